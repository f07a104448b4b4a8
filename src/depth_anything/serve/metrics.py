"""Counters, gauges and histograms in Prometheus' text exposition format (version 0.0.4), without a client
library: the server needs a handful of series, and writing them is a few lines.

With `--workers N` each worker counts its own requests; so that a scrape answered by any one worker shows
the whole server, every worker writes its values to a shared folder (`SharedMetrics`) and the answering
worker adds them up: counters and histograms over every worker that ever ran (a counter must not go
down when a worker is replaced), gauges over the workers still alive (as prometheus_client's
multiprocess mode does).
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

PREFIX = "depth_anything_serve_"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)

Labels = tuple[tuple[str, str], ...]


def _labels(values: dict[str, str] | None) -> Labels:
    return tuple(sorted((values or {}).items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label_text(labels: Iterable[tuple[str, str]]) -> str:
    pairs = [f'{key}="{_escape(str(value))}"' for key, value in labels]
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


class Metrics:
    """The server's series, safe to update from any thread: `inc` a counter, `set`/`add` a gauge,
    `observe` a histogram; `text()` renders them (with `others`: snapshots of other workers added in)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # name → (kind, help, buckets or None)
        self._meta: dict[str, tuple[str, str, tuple[float, ...] | None]] = {}
        self._values: dict[str, dict[Labels, Any]] = {}

    def declare(self, name: str, kind: str, help: str, buckets: Sequence[float] | None = None) -> None:
        """Make a series known (it is listed even before its first value)."""
        if kind not in ("counter", "gauge", "histogram"):
            raise ValueError(f"metric {name}: kind must be counter, gauge or histogram, got {kind!r}")
        self._meta[PREFIX + name] = (kind, help, tuple(buckets) if buckets is not None else None)
        self._values.setdefault(PREFIX + name, {})

    def _slot(self, name: str, labels: dict[str, str] | None, kind: str) -> tuple[dict[Labels, Any], Labels]:
        full = PREFIX + name
        if full not in self._meta or self._meta[full][0] != kind:
            raise KeyError(f"metric {name} is not a declared {kind}")
        return self._values[full], _labels(labels)

    def inc(self, name: str, labels: dict[str, str] | None = None, amount: float = 1.0) -> None:
        """Add `amount` to a counter."""
        with self._lock:
            values, key = self._slot(name, labels, "counter")
            values[key] = values.get(key, 0.0) + amount

    def set(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        """Set a gauge."""
        with self._lock:
            values, key = self._slot(name, labels, "gauge")
            values[key] = float(value)

    def add(self, name: str, amount: float, labels: dict[str, str] | None = None) -> None:
        """Move a gauge up or down."""
        with self._lock:
            values, key = self._slot(name, labels, "gauge")
            values[key] = values.get(key, 0.0) + amount

    def observe(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        """Count one observation into a histogram."""
        with self._lock:
            values, key = self._slot(name, labels, "histogram")
            buckets = self._meta[PREFIX + name][2] or ()
            entry = values.get(key)
            if entry is None:
                entry = values[key] = {"counts": [0] * len(buckets), "sum": 0.0, "count": 0}
            for i, bound in enumerate(buckets):
                if value <= bound:
                    entry["counts"][i] += 1
            entry["sum"] += value
            entry["count"] += 1

    def value(self, name: str, labels: dict[str, str] | None = None) -> Any:
        """One series' current value (a number, or a histogram's counts, sum and count), for tests and logs."""
        with self._lock:
            return self._values.get(PREFIX + name, {}).get(_labels(labels))

    def snapshot(self) -> dict[str, Any]:
        """Every value as JSON-ready data (what a worker shares with the others)."""
        with self._lock:
            return {name: [[list(map(list, key)), value] for key, value in values.items()]
                    for name, values in self._values.items()}

    def text(self, others: Sequence[tuple[dict[str, Any], bool]] = ()) -> str:
        """The exposition text: this process's values plus `others` (snapshot, alive) added in."""
        merged: dict[str, dict[Labels, Any]] = {}
        sources = [(self.snapshot(), True), *others]
        for snapshot, alive in sources:
            for name, items in snapshot.items():
                if name not in self._meta:
                    continue
                kind = self._meta[name][0]
                if kind == "gauge" and not alive:
                    continue
                target = merged.setdefault(name, {})
                for key_list, value in items:
                    key = tuple(tuple(pair) for pair in key_list)
                    if kind == "histogram":
                        entry = target.setdefault(key, {"counts": [0] * len(value["counts"]), "sum": 0.0, "count": 0})
                        entry["counts"] = [a + b for a, b in zip(entry["counts"], value["counts"], strict=True)]
                        entry["sum"] += value["sum"]
                        entry["count"] += value["count"]
                    else:
                        target[key] = target.get(key, 0.0) + value
        lines: list[str] = []
        for name, (kind, help, buckets) in self._meta.items():
            lines.append(f"# HELP {name} {help}")
            lines.append(f"# TYPE {name} {kind}")
            for key, value in sorted(merged.get(name, {}).items()):
                if kind != "histogram":
                    lines.append(f"{name}{_label_text(key)} {_number(value)}")
                    continue
                for bound, count in zip(buckets or (), value["counts"], strict=True):
                    lines.append(f"{name}_bucket{_label_text((*key, ('le', _number(bound))))} {count}")
                lines.append(f"{name}_bucket{_label_text((*key, ('le', '+Inf')))} {value['count']}")
                lines.append(f"{name}_sum{_label_text(key)} {_number(value['sum'])}")
                lines.append(f"{name}_count{_label_text(key)} {value['count']}")
        return "\n".join(lines) + "\n"


def server_metrics() -> Metrics:
    """The series `depth-anything serve` reports."""
    metrics = Metrics()
    metrics.declare("requests_total", "counter", "Depth requests answered, by model, format and HTTP status.")
    metrics.declare("errors_total", "counter", "Requests refused or failed, by kind of error.")
    metrics.declare("request_seconds", "histogram", "Time from a depth request's arrival to its answer.",
                    LATENCY_BUCKETS)
    metrics.declare("batch_size", "histogram", "Requests run together in one dynamic batch.", BATCH_BUCKETS)
    metrics.declare("batch_seconds", "histogram", "Time the model takes for one dynamic batch.", LATENCY_BUCKETS)
    metrics.declare("queue_depth", "gauge", "Requests waiting for the model (admitted, not yet in a batch).")
    metrics.declare("in_flight", "gauge", "Depth requests being handled now.")
    metrics.declare("models_loaded", "gauge", "Models loaded and ready to answer.")
    return metrics


class SharedMetrics:
    """Shares one worker's `Metrics` with its siblings through files in `folder` (one per process id)."""

    def __init__(self, metrics: Metrics, folder: str | os.PathLike, interval_s: float = 1.0) -> None:
        self.metrics = metrics
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"{os.getpid()}.json"
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def write(self) -> None:
        """Put this worker's values in its file (atomically: a reader never sees half a file)."""
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.metrics.snapshot()))
        os.replace(tmp, self.path)

    def start(self) -> None:
        """Write every `interval_s` seconds from a background thread, until `stop`."""
        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                self.write()

        self.write()
        self._thread = threading.Thread(target=loop, name="depth-anything-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write the last values (a counter keeps its count after the worker ends)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.metrics.set("queue_depth", 0)
        self.metrics.set("in_flight", 0)
        self.metrics.set("models_loaded", 0)
        self.write()

    def text(self) -> str:
        """The whole server's exposition text: this worker's live values plus every other worker's file."""
        others = []
        for file in sorted(self.folder.glob("*.json")):
            if file == self.path:
                continue
            try:
                snapshot = json.loads(file.read_text())
            except (OSError, ValueError):  # a file being replaced right now: its next write counts
                continue
            others.append((snapshot, _alive(int(file.stem))))
        return self.metrics.text(others)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["BATCH_BUCKETS", "LATENCY_BUCKETS", "PREFIX", "Metrics", "SharedMetrics", "server_metrics"]
