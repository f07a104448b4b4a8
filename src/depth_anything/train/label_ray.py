"""The Ray Data engine of shard labelling (`label_shards(..., engine="ray")`; needs the `ray` extra).

The job is a Ray Data pipeline: the unfinished shards as rows → ``flat_map`` reads each shard into
chunks of samples (the chunks `label_shards` uses) → ``map_batches`` with a pool of actors, each
holding the teacher (one GPU each when the cluster has GPUs) and labelling one chunk per call with the
shared `ChunkLabeler` → the driver collects each shard's chunks and commits the label shard and its
index line as soon as all of them have arrived. Chunks and labelling are those of the torchrun engine,
so both write byte-identical label shards. There the driver alone writes, so OUT must be reachable from
the driver only, but every label passes through it. With ``writes="workers"`` each actor labels whole
shards instead (``map_batches`` over the shard rows) and writes each label shard to OUT itself, sending
the driver only its index line to append: OUT must then be shared by every node (a network file
system), and the labels never travel to the driver, whose bandwidth no longer bounds a large cluster.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.pseudo import ENCODINGS
from ..data.shards import IndexEntry, ShardReadError, append_index, shard_name, teacher_digest
from ..errors import DepthAnythingError
from ..inference import Predictor
from .label import open_teacher, predictor_identity
from .label_shards import (
    CHUNK_BATCHES,
    ChunkLabeler,
    LabeledChunk,
    ShardLabelResult,
    commit_shard,
    input_shards,
    iter_chunks,
    label_whole_shard,
    pending_shards,
    prepare_output,
)

log = logging.getLogger(__name__)


def _open_predictor(
    model: str | Path,
    input_size: int | None,
    batch_size: int,
    device: str | None,
    dtype: str | None,
    opener: Callable[[torch.device], Predictor] | None,
) -> Predictor:
    """The teacher on this Ray worker's device (its assigned GPU, else the CPU)."""
    from ..runtime import resolve_device

    return open_teacher(model, resolve_device(device), dtype, input_size, batch_size, opener)


def _identity(model: str | Path, encoding: str, predictor_args: dict[str, Any]) -> dict[str, Any]:
    """The teacher identity, computed where the actors run (the driver may lack the GPU or the memory)."""
    return predictor_identity(model, _open_predictor(model, **predictor_args), encoding)


def _read_chunks(row: dict[str, Any], size: int) -> Iterator[dict[str, Any]]:
    """Rows of one shard: one per chunk of samples, then a last row with the chunk count or the error."""
    position, url = int(row["position"]), str(row["url"])
    count = 0
    error = ""
    try:
        for chunk in iter_chunks(url, size):
            yield {
                "position": position,
                "url": url,
                "chunk": count,
                "last": False,
                "error": "",
                "payload": pickle.dumps(chunk),
            }
            count += 1
    except ShardReadError as exc:
        error = str(exc)
    yield {"position": position, "url": url, "chunk": count, "last": True, "error": error, "payload": b""}


class _TeacherActor:
    """A Ray actor holding the teacher; labels the chunk rows of each batch it is given."""

    def __init__(
        self, encoding: str, quality: bool, predictor_args: dict[str, Any], model: str | Path
    ) -> None:
        self.labeler = ChunkLabeler(_open_predictor(model, **predictor_args), encoding, quality)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        payloads = []
        for url, last, payload in zip(batch["url"], batch["last"], batch["payload"], strict=True):
            if last:
                payloads.append(b"")
                continue
            labeled = self.labeler(shard_name(str(url)), pickle.loads(payload))
            payloads.append(pickle.dumps(labeled))
        return {
            **{k: batch[k] for k in ("position", "url", "chunk", "last", "error")},
            "payload": np.array(payloads, dtype=object),
        }


class _ShardWriterActor:
    """A Ray actor holding the teacher (``writes="workers"``): labels the whole shards of each batch it is
    given and writes their label shards to OUT itself; returns each one's index line (or read error)."""

    def __init__(
        self, encoding: str, quality: bool, predictor_args: dict[str, Any], model: str | Path, out: str, teacher: str
    ) -> None:
        self.labeler = ChunkLabeler(_open_predictor(model, **predictor_args), encoding, quality)
        self.out, self.teacher = Path(out), teacher

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        entries, errors = [], []
        for position, url in zip(batch["position"], batch["url"], strict=True):
            try:
                entry = label_whole_shard(self.labeler, self.out, int(position), str(url), self.teacher)
            except ShardReadError as exc:
                entries.append(b"")
                errors.append(str(exc))
            else:
                entries.append(pickle.dumps(entry))
                errors.append("")
        return {"position": batch["position"], "url": batch["url"], "error": np.array(errors, dtype=object),
                "entry": np.array(entries, dtype=object)}


def _written_rows(
    ray: Any, todo: list[tuple[int, str]], actor_args: dict[str, Any], actors: int, gpus: int
) -> Iterator[dict[str, Any]]:
    """The ``writes="workers"`` pipeline: shards → written label shards (`map_batches` on the actor pool)."""
    if not todo:
        return iter(())
    rows = ray.data.from_items([{"position": p, "url": u} for p, u in todo], override_num_blocks=len(todo))
    written = rows.map_batches(
        _ShardWriterActor,
        fn_constructor_kwargs=actor_args,
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=1,
        num_gpus=gpus,
    )
    return iter(written.iter_rows())


def _labelled_rows(
    ray: Any,
    todo: list[tuple[int, str]],
    encoding: str,
    quality: bool,
    predictor_args: dict[str, Any],
    model: str | Path,
    batch_size: int,
    actors: int,
    gpus: int,
) -> Iterator[dict[str, Any]]:
    """The pipeline: shards → chunks (`flat_map`) → labelled chunks (`map_batches` on the actor pool)."""
    if not todo:
        return iter(())
    rows = ray.data.from_items([{"position": p, "url": u} for p, u in todo], override_num_blocks=len(todo))
    chunks = rows.flat_map(_read_chunks, fn_kwargs={"size": batch_size * CHUNK_BATCHES})
    labelled = chunks.map_batches(
        _TeacherActor,
        fn_constructor_kwargs={
            "encoding": encoding,
            "quality": quality,
            "predictor_args": predictor_args,
            "model": model,
        },
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=1,  # each actor holds a CPU: a local cluster needs more CPUs than actors, for reading
        num_gpus=gpus,
    )
    return iter(labelled.iter_rows())


def label_shards_on_ray(
    model: str | Path,
    shards: str | Path,
    out: str | Path,
    encoding: str = "npy16",
    input_size: int | None = None,
    batch_size: int = 4,
    device: str | None = None,
    dtype: str | None = None,
    quality: bool = True,
    address: str | None = None,
    actors: int = 1,
    progress: Callable[[int, int], None] | None = None,
    opener: Callable[[torch.device], Predictor] | None = None,
    writes: str = "driver",
) -> ShardLabelResult:
    """`label_shards` on Ray Data (see the module doc): joins the running Ray cluster, else the one at
    `address`, else starts a local one; `actors` teacher actors (one GPU each where the cluster has GPUs).
    `writes`: "driver" (the label shards are written where this runs) or "workers" (each actor writes
    the shards it labels to `out`, which every node must reach)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown label encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
    if writes not in ("driver", "workers"):
        raise ValueError(f"writes={writes!r}: the label shards are written by the 'driver' or the 'workers'")
    out = Path(out)
    urls = input_shards(shards, out)
    try:
        import ray
        import ray.data
    except ImportError:
        raise DepthAnythingError("engine='ray' needs Ray Data: pip install 'depth-anything[ray]'") from None
    if actors < 1:
        raise ValueError(f"actors must be at least 1, got {actors}")
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    gpus = 1 if device != "cpu" and ray.cluster_resources().get("GPU", 0) > 0 else 0
    predictor_args = {
        "input_size": input_size,
        "batch_size": batch_size,
        "device": device,
        "dtype": dtype,
        "opener": opener,
    }
    identity = ray.get(ray.remote(num_gpus=gpus)(_identity).remote(model, encoding, predictor_args))
    prepare_output(out, identity)
    todo, finished = pending_shards(out, urls)
    digest = teacher_digest(identity)
    context = ray.data.DataContext.get_current()
    bars_before, context.enable_progress_bars = (
        context.enable_progress_bars,
        False,
    )  # `progress` reports instead
    start = time.perf_counter()
    received: dict[int, dict[int, LabeledChunk]] = {}
    expected: dict[int, int] = {}
    failed_positions: set[int] = set()  # shards reported unreadable: their chunks still in flight are dropped
    labeled = failed = done = 0
    scores: list[float] = []
    errors: list[str] = []

    def report() -> None:
        if progress:
            progress(done + len(errors) - failed, len(todo))

    def unreadable(error: str) -> None:
        log.warning("shard not labelled (a rerun tries it again): %s", error)
        errors.append(error)
        report()

    def written(entry: IndexEntry) -> None:
        nonlocal labeled, failed, done
        for message in entry.failed:
            log.warning("skipped %s", message)
        labeled, failed, done = labeled + entry.count, failed + len(entry.failed), done + 1
        scores.extend(entry.quality.astype(np.float32).tolist())
        errors.extend(entry.failed)
        report()

    report()
    try:
        if writes == "workers":
            actor_args = {"encoding": encoding, "quality": quality, "predictor_args": predictor_args, "model": model,
                          "out": os.path.abspath(out), "teacher": digest}  # workers start elsewhere
            for row in _written_rows(ray, todo, actor_args, actors, gpus):
                if row["error"]:
                    unreadable(str(row["error"]))
                    continue
                entry = pickle.loads(row["entry"])
                append_index(out, entry)  # the shard is on disk: the line makes it count as finished
                written(entry)
        else:
            for row in _labelled_rows(ray, todo, encoding, quality, predictor_args, model, batch_size, actors, gpus):
                position = int(row["position"])
                if row["last"]:
                    if row["error"]:
                        received.pop(position, None)
                        failed_positions.add(position)
                        unreadable(str(row["error"]))
                        continue
                    expected[position] = int(row["chunk"])
                elif position not in failed_positions:
                    received.setdefault(position, {})[int(row["chunk"])] = pickle.loads(row["payload"])
                if position in expected and len(received.get(position, {})) == expected[position]:
                    parts = received.pop(position, {})
                    del expected[position]
                    written(commit_shard(out, position, str(row["url"]), [parts[i] for i in sorted(parts)], digest))
    finally:
        context.enable_progress_bars = bars_before
    elapsed = time.perf_counter() - start
    shards_failed = len(errors) - failed
    return ShardLabelResult(
        labeled,
        failed,
        done,
        finished,
        shards_failed,
        elapsed,
        labeled / elapsed if elapsed > 0 else 0.0,
        out / "index.jsonl",
        np.array(scores, dtype=np.float32),
        errors,
    )
