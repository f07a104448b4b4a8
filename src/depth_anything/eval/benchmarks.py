"""Benchmarks (name → dataset reader + protocol) and the evaluation loop that streams their samples.

The loop reads one batch of samples at a time, asks a `predict(list of RGB arrays) -> list of H×W
maps` callable for the missing predictions (or takes them from a `PredictionStore` folder), scores
each sample and keeps only running sums plus one small record per sample, so memory stays flat for
thousands of images. A `progress(done, total, **counts)` callable hears of each batch (the command line
draws its bar with it; the library draws nothing). A sample that cannot be scored (unreadable file, size mismatch, empty valid
mask, NaN/inf) is reported with its reason and excluded from the averages, never averaged in.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from ..data.datasets import DepthSample, SampleReader, item_name, open_dataset
from ..errors import ConfigError, DepthAnythingError
from ..io import atomic_write_text, save_npy
from .metrics import HIGHER_IS_BETTER, METRIC_LABELS, METRIC_NAMES, MetricAverager
from .protocols import PRED_KINDS, BadSample, DatasetSettings, Protocol, protocol_for, score_prediction

PredictFn = Callable[[list[np.ndarray]], Sequence[np.ndarray]]
# progress(done, total, **counts): samples (or images) handled so far out of `total`, with running counts
# such as scored= and excluded= where the loop keeps them
ProgressFn = Callable[..., None]

RELATIVE_COLUMNS = ("abs_rel", "d1")
NYU_METRIC_COLUMNS = ("d1", "d2", "d3", "abs_rel", "rmse", "log10")
KITTI_METRIC_COLUMNS = ("d1", "d2", "d3", "abs_rel", "rmse", "rmse_log")
ALL_METRIC_COLUMNS = ("d1", "d2", "d3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog")


@dataclass(frozen=True)
class Benchmark:
    """A named benchmark: which reader reads it, which split, which dataset settings, its published size."""

    name: str
    layout: str
    split: str | None
    settings: DatasetSettings  # depth range and crop of the usual zero-shot / metric evaluation
    expected_size: int | None = None
    metric_columns: tuple[str, ...] = ALL_METRIC_COLUMNS

    def columns(self, kind: str) -> tuple[str, ...]:
        """The metric columns of the paper's table for this benchmark under protocol `kind`."""
        return RELATIVE_COLUMNS if kind == "relative" else self.metric_columns


# Ranges and crops of the usual evaluation of each dataset: NYU 10 m with the Eigen crop of 480×640
# images, KITTI 80 m with the Garg crop, Sintel 72 m, DIODE 0.6–350 m.
BENCHMARKS = MappingProxyType(
    {
        "kitti": Benchmark("kitti", "kitti", "test", DatasetSettings(1e-3, 80.0, "garg"), 652, KITTI_METRIC_COLUMNS),
        "nyu": Benchmark("nyu", "nyu", "test", DatasetSettings(1e-3, 10.0, "nyu"), 654, NYU_METRIC_COLUMNS),
        "sintel": Benchmark("sintel", "sintel", "training", DatasetSettings(1e-3, 72.0), 1064),
        "eth3d": Benchmark("eth3d", "eth3d", None, DatasetSettings(1e-3, 1000.0), 454),
        "diode": Benchmark("diode", "diode", "val", DatasetSettings(0.6, 350.0), 771),
        "hypersim": Benchmark("hypersim", "hypersim", "test", DatasetSettings(1e-3, 80.0)),
        "vkitti2": Benchmark("vkitti2", "vkitti2", None, DatasetSettings(1e-3, 80.0)),
        "synthetic": Benchmark("synthetic", "synthetic", "val", DatasetSettings(1e-3, 1000.0)),  # the held-out split
        "folder": Benchmark("folder", "folder", None, DatasetSettings(1e-3, 1000.0)),
    }
)


def get_benchmark(name: str) -> Benchmark:
    """Look up a benchmark by name, with an error listing the known ones."""
    if name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {name!r}; known: {', '.join([*BENCHMARKS, 'da2k'])}")
    return BENCHMARKS[name]


def make_protocol(
    benchmark: str,
    kind: str = "relative",
    alignment: str | None = None,
    min_depth: float | None = None,
    max_depth: float | None = None,
    crop: str | None = "default",
) -> Protocol:
    """The standard protocol of the benchmark named `benchmark`, with overrides (see `protocol_for`)."""
    return protocol_for(get_benchmark(benchmark).settings, kind, alignment, min_depth, max_depth, crop)


def open_benchmark(benchmark: Benchmark, root: str | Path, **options: Any) -> SampleReader:
    """The reader of `benchmark` over the folder `root` (reader options such as split_file pass through)."""
    return open_dataset(benchmark.layout, root, split=options.pop("split", benchmark.split), **options)


# ------------------------------------------------------------------------------------ prediction cache
_UNSAFE = re.compile(r"[^A-Za-z0-9._/-]")


class PredictionStore:
    """Per-sample raw predictions as `.npy` under a folder, so a re-run with a new protocol skips inference.

    `predictions.json` records the model and the kind of output; reusing the folder for another model
    is refused rather than silently mixing predictions.
    """

    def __init__(self, folder: str | Path, model: str, pred_kind: str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        info_path = self.folder / "predictions.json"
        info = {"model": model, "pred_kind": pred_kind}
        if info_path.exists():
            found = json.loads(info_path.read_text(encoding="utf-8"))
            if found != info:
                raise ConfigError(
                    f"{self.folder} holds predictions of {found}, not {info}; keep these in another folder"
                )
        else:
            atomic_write_text(info_path, json.dumps(info, indent=2) + "\n")

    def path(self, name: str) -> Path:
        """Where the prediction of sample `name` lives (names keep their sub-folders, `..` is neutralised)."""
        parts = [p for p in _UNSAFE.sub("_", name).split("/") if p not in ("", ".", "..")]
        if not parts:
            return self.folder / "_.npy"
        # append, never replace, the suffix: "frame.0000" and "frame.0001" must stay two files
        return self.folder.joinpath(*parts[:-1], parts[-1] + ".npy")

    def get(self, name: str) -> np.ndarray | None:
        """The stored prediction of `name`, or None when absent or unreadable (then it is recomputed)."""
        path = self.path(name)
        if not path.exists():
            return None
        try:
            return np.load(path, allow_pickle=False).astype(np.float32)
        except (OSError, ValueError):
            return None

    def put(self, name: str, prediction: np.ndarray) -> None:
        """Store a prediction atomically as float32."""
        save_npy(self.path(name), np.asarray(prediction, dtype=np.float32))


# ------------------------------------------------------------------------------------ reports
@dataclass
class EvalReport:
    """The result of one evaluation: averages over scored samples, and every exclusion with its reason."""

    benchmark: str
    model: str
    protocol: dict[str, Any]
    columns: tuple[str, ...]
    num_samples: int = 0
    num_evaluated: int = 0
    num_excluded: int = 0
    expected_size: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    excluded: list[dict[str, str]] = field(default_factory=list)
    per_sample: list[dict[str, Any]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every sample of the published benchmark was scored (comparable with the paper)."""
        return self.expected_size is None or (self.num_evaluated == self.expected_size)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (NaN averages become null)."""
        data = asdict(self)
        data["columns"] = list(self.columns)
        data["complete"] = self.complete
        data["metrics"] = {k: (None if math.isnan(v) else v) for k, v in self.metrics.items()}
        return data

    def markdown(self) -> str:
        """A Markdown table with the columns of the paper's table for this protocol."""
        return markdown_table([self])


def _arrow(metric: str) -> str:
    return "↑" if metric in HIGHER_IS_BETTER else "↓"


def markdown_table(reports: Sequence[EvalReport]) -> str:
    """One row per report; reports must share their columns."""
    columns = reports[0].columns
    head = ["Model", "Benchmark", "Protocol", "Images", "Excluded", *(f"{METRIC_LABELS[c]} {_arrow(c)}" for c in columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|"]
    for report in reports:
        protocol = f"{report.protocol['kind']} ({report.protocol['alignment']})"
        values = [report.metrics.get(c, math.nan) for c in columns]
        cells = [report.model, report.benchmark, protocol, str(report.num_evaluated), str(report.num_excluded)]
        cells += ["–" if math.isnan(v) else f"{v:.3f}" for v in values]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ the loop
def _batches(reader: SampleReader, batch_size: int, limit: int | None) -> Iterator[list[int]]:
    total = len(reader) if limit is None else min(limit, len(reader))
    for start in range(0, total, batch_size):
        yield list(range(start, min(start + batch_size, total)))


def predict_with_cache(
    samples: Sequence[DepthSample], predict: PredictFn, store: PredictionStore | None
) -> list[np.ndarray | None]:
    """Predictions for `samples`: from the store when there, else from `predict` (then stored).

    A cached prediction whose size differs from its image is recomputed (a stale file, not the truth).
    """
    results: list[np.ndarray | None] = [None] * len(samples)
    missing: list[int] = []
    for i, sample in enumerate(samples):
        cached = store.get(sample.name) if store is not None else None
        if cached is not None and cached.shape == sample.image.shape[:2]:
            results[i] = cached
        else:
            missing.append(i)
    if missing:
        outputs = list(predict([samples[i].image for i in missing]))
        if len(outputs) != len(missing):
            raise ConfigError(f"predictor returned {len(outputs)} maps for {len(missing)} images")
        for i, output in zip(missing, outputs, strict=True):
            results[i] = np.asarray(output, dtype=np.float32)
            if store is not None:
                store.put(samples[i].name, results[i])
    return results


def evaluate(
    reader: SampleReader,
    predict: PredictFn,
    protocol: Protocol,
    *,
    pred_kind: str = "disparity",
    benchmark: Benchmark | None = None,
    model_name: str = "model",
    batch_size: int = 4,
    predictions: PredictionStore | None = None,
    progress: ProgressFn | None = None,
    limit: int | None = None,
) -> EvalReport:
    """Score every sample of `reader` under `protocol`, streaming one batch at a time; `progress(done,
    total, scored=, excluded=)` is called after each batch."""
    if pred_kind not in PRED_KINDS:
        raise ConfigError(f"pred_kind must be one of {PRED_KINDS}, got {pred_kind!r}")
    if protocol.alignment != "affine" and pred_kind != "depth":
        raise ConfigError(
            f"the {protocol.kind} protocol with alignment {protocol.alignment!r} needs a metric model; "
            "this model predicts relative disparity (score it with the relative protocol)"
        )
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size}: give at least 1")
    name = benchmark.name if benchmark is not None else type(reader).__name__
    report = EvalReport(
        benchmark=name,
        model=model_name,
        protocol=asdict(protocol),
        columns=benchmark.columns(protocol.kind) if benchmark is not None else ALL_METRIC_COLUMNS,
        expected_size=benchmark.expected_size if benchmark is not None and limit is None else None,
    )
    averager = MetricAverager()

    def exclude(sample_name: str, reason: str) -> None:
        report.excluded.append({"name": sample_name, "reason": reason})
        report.per_sample.append({"name": sample_name, "status": "excluded", "reason": reason})

    batches = list(_batches(reader, batch_size, limit))
    total, done = sum(len(b) for b in batches), 0
    if progress is not None:
        progress(done, total, scored=0, excluded=0)
    for indices in batches:
        samples: list[DepthSample] = []
        for index in indices:
            try:
                sample = reader[index]
            except (DepthAnythingError, OSError) as exc:
                exclude(item_name(reader.items[index]), f"cannot read sample: {exc}")
                continue
            if sample.depth is not None and sample.depth.shape != sample.image.shape[:2]:
                exclude(
                    sample.name,
                    f"ground-truth size {sample.depth.shape} differs from image size {sample.image.shape[:2]}",
                )
            elif sample.depth is None:
                exclude(sample.name, "no ground truth")
            else:
                samples.append(sample)
        if samples:
            outputs = predict_with_cache(samples, predict, predictions)
            for sample, output in zip(samples, outputs, strict=True):
                try:
                    metrics = score_prediction(output, sample.depth, sample.valid, protocol, pred_kind)
                except BadSample as exc:
                    exclude(sample.name, str(exc))
                    continue
                averager.add(metrics)
                report.per_sample.append({"name": sample.name, "status": "ok", **metrics})
        done += len(indices)
        if progress is not None:
            progress(done, total, scored=averager.count, excluded=len(report.excluded))
    report.num_samples = total
    report.num_evaluated = averager.count
    report.num_excluded = len(report.excluded)
    report.metrics = averager.means()
    return report


def evaluate_benchmark(
    benchmark_name: str,
    root: str | Path,
    predict: PredictFn,
    *,
    pred_kind: str = "disparity",
    kind: str | None = None,
    alignment: str | None = None,
    min_depth: float | None = None,
    max_depth: float | None = None,
    crop: str | None = "default",
    reader_options: dict[str, Any] | None = None,
    **loop_options: Any,
) -> EvalReport:
    """Evaluate a named benchmark in one call: reader, standard protocol (with overrides) and the loop.

    `kind` defaults to "relative" for disparity predictions and "metric" for depth predictions.
    """
    benchmark = get_benchmark(benchmark_name)
    kind = kind or ("relative" if pred_kind == "disparity" else "metric")
    protocol = protocol_for(benchmark.settings, kind, alignment, min_depth, max_depth, crop)
    reader = open_benchmark(benchmark, root, **(reader_options or {}))
    return evaluate(reader, predict, protocol, pred_kind=pred_kind, benchmark=benchmark, **loop_options)


__all__ = [
    "BENCHMARKS", "Benchmark", "make_protocol", "EvalReport", "METRIC_NAMES", "PredictionStore", "ProgressFn", "evaluate",
    "evaluate_benchmark", "get_benchmark", "markdown_table", "open_benchmark", "predict_with_cache",
]
