"""Pseudo-labelling of WebDataset-style tar shards into label shards, resumable shard by shard.

Input shards are named by a brace pattern, a folder of ``.tar`` files or fsspec URLs
(`data.shards.shard_urls`); input shard number i (in that order) becomes ``OUT/labels-<i:06d>.tar``,
written under a temporary name and renamed when complete, then recorded in ``OUT/index.jsonl``
(`data.shards`). A rerun skips shards the index names; a killed run loses only the shards in flight.
``OUT/teacher.json`` records the teacher setting before any shard is written, and a rerun with another
is refused, as in folder mode.

Work is split by shard: under torchrun rank r takes the unfinished shards r, r + world, ... (disjoint
for any world size); on Ray, Ray Data does it (`label_ray.label_shards_on_ray`). Both label a shard the same
way: its samples in file order, cut into chunks of `CHUNK_BATCHES` × batch size, each chunk one call of
the shared Predictor (with every image's mirror image in the same batch, for the quality score), so
both engines write byte-identical label shards.

Bad input never stops the job: an image that does not decode is left out of its shard and listed (with
its key) in the shard's index line; a shard that is missing, unreachable, truncated or vanishes while
being read is reported with the last key read and not committed, so a rerun tries it again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.pseudo import ENCODINGS, encode_label
from ..data.shards import (
    INDEX,
    SHARD_FORMAT,
    TEACHER_FILE,
    IndexEntry,
    ShardReadError,
    ShardSample,
    append_index,
    is_url,
    iter_shard,
    read_index,
    shard_name,
    shard_urls,
    teacher_digest,
    trim_unfinished_index_line,
    write_shard,
)
from ..errors import ConfigError, ImageReadError
from ..inference import Predictor
from ..inference.confidence import iter_results_with_confidence
from ..io import atomic_write_text, decode_image_bytes
from .distributed import (
    all_gather_objects,
    all_reduce_max,
    all_reduce_sum,
    barrier,
    init_distributed,
    on_main,
)
from .label import check_teacher, open_teacher, predictor_identity

log = logging.getLogger(__name__)

# images per Predictor call: a few batches, so the network's batches are full but a chunk stays small
CHUNK_BATCHES = 4


def label_shard_name(position: int) -> str:
    """The label shard written for input shard number `position`."""
    return f"labels-{position:06d}.tar"


@dataclass
class ShardLabelResult:
    """What a shard labelling job did, over all ranks (or Ray workers).

    `quality` holds the score of every label written in this run; `errors` names each shard that was not
    committed and each image left out ("shard key: reason").
    """

    labeled: int
    failed: int
    shards_done: int
    shards_skipped: int
    shards_failed: int
    seconds: float
    images_per_second: float
    index: Path
    quality: np.ndarray
    errors: list[str] = field(default_factory=list)


@dataclass
class LabeledChunk:
    """A chunk's output: label shard members per key (file order), their quality, and left-out images."""

    samples: list[tuple[str, dict[str, bytes]]]
    quality: list[float]
    failed: list[str]


def iter_chunks(url: str, size: int) -> Iterator[list[ShardSample]]:
    """The samples of shard `url` in file order, `size` at a time (raises `ShardReadError`)."""
    chunk: list[ShardSample] = []
    for sample in iter_shard(url):
        chunk.append(sample)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class ChunkLabeler:
    """Labels chunks of shard samples with one Predictor: the same code under torchrun and in Ray actors."""

    def __init__(self, predictor: Predictor, encoding: str, quality: bool = True) -> None:
        predictor.prefetch = False  # chunks are small; a reader thread per call would cost more than it saves
        self.predictor, self.encoding, self.quality = predictor, encoding, quality

    @property
    def chunk_size(self) -> int:
        return self.predictor.batch_size * CHUNK_BATCHES

    def __call__(self, shard: str, samples: list[ShardSample]) -> LabeledChunk:
        decoded: list[tuple[ShardSample, str, np.ndarray]] = []
        failed: list[str] = []
        for sample in samples:
            image = sample.image_bytes()
            if image is None:
                failed.append(
                    f"{shard} {sample.key}: no image member (found {', '.join(sorted(sample.fields))})"
                )
                continue
            try:
                decoded.append((sample, image[0], decode_image_bytes(image[1], f"{shard} {sample.key}")))
            except ImageReadError as exc:
                failed.append(str(exc))
        rgbs = [rgb for _, _, rgb in decoded]
        if self.quality:
            outcomes = [
                (r.depth, c.score if c is not None else float("nan"))
                for r, c in iter_results_with_confidence(self.predictor, rgbs)
            ]
        else:
            outcomes = [(r.depth, float("nan")) for r in self.predictor.iter_results(rgbs)]
        out: list[tuple[str, dict[str, bytes]]] = []
        quality: list[float] = []
        label_extension = "depth" + ENCODINGS[self.encoding]
        for (sample, extension, rgb), (depth, score) in zip(decoded, outcomes, strict=True):
            meta = {
                "height": int(rgb.shape[0]),
                "width": int(rgb.shape[1]),
                "quality": score,
                "depth_kind": "disparity",
                "scaling": "per-image maximum = 1",
            }
            fields = {
                extension: sample.fields[extension],
                label_extension: encode_label(depth, self.encoding),
                "json": json.dumps(meta, sort_keys=True).encode("utf-8"),
            }
            out.append((sample.key, fields))
            quality.append(score)
        return LabeledChunk(out, quality, failed)


def write_label_shard(out: Path, position: int, url: str, chunks: list[LabeledChunk], teacher: str) -> IndexEntry:
    """Write label shard `position` from its chunks (atomically); its index line, not yet appended."""
    name = label_shard_name(position)
    samples = [sample for chunk in chunks for sample in chunk.samples]
    digest = write_shard(out / name, samples)
    quality = np.array([q for chunk in chunks for q in chunk.quality], dtype=np.float16)
    return IndexEntry(name, url, len(samples), digest, teacher, quality, [f for c in chunks for f in c.failed])


def commit_shard(out: Path, position: int, url: str, chunks: list[LabeledChunk], teacher: str) -> IndexEntry:
    """Write label shard `position` from its chunks (atomically), then append its index line."""
    entry = write_label_shard(out, position, url, chunks, teacher)
    append_index(out, entry)
    return entry


def label_whole_shard(labeler: ChunkLabeler, out: Path, position: int, url: str, teacher: str) -> IndexEntry:
    """Read input shard `url` chunk by chunk, label it and write its label shard; its index line, not yet
    appended (`ShardReadError` when the input cannot be read)."""
    chunks = [labeler(shard_name(url), chunk) for chunk in iter_chunks(url, labeler.chunk_size)]
    return write_label_shard(out, position, url, chunks, teacher)


def prepare_output(out: Path, identity: dict[str, Any]) -> None:
    """Refuse `out` when it holds labels of another teacher setting; otherwise record this one."""
    check_teacher(out, identity, TEACHER_FILE)
    trim_unfinished_index_line(out)
    if not (out / TEACHER_FILE).is_file():
        out.mkdir(parents=True, exist_ok=True)
        record = {"format": SHARD_FORMAT, "teacher": identity, "digest": teacher_digest(identity)}
        atomic_write_text(out / TEACHER_FILE, json.dumps(record, indent=1, sort_keys=True))


def pending_shards(out: Path, urls: list[str]) -> tuple[list[tuple[int, str]], int]:
    """(position, url) of the shards the index does not list as finished, and how many it does.

    Label shards are named by input position, so a finished one must come from the input shard now at
    its position (compared by file name): shards added, removed or renamed in between are refused,
    where they would be skipped unlabelled or labelled twice."""
    finished = read_index(out)
    for i, url in enumerate(urls):
        entry = finished.get(label_shard_name(i))
        if entry is not None and shard_name(entry.source) != shard_name(url):
            raise ConfigError(
                f"{out / INDEX}: {entry.shard} was labelled from {entry.source}, but input shard {i} is now "
                f"{url} (the input shards changed since; label them into a new output folder)"
            )
    todo = [(i, url) for i, url in enumerate(urls) if label_shard_name(i) not in finished]
    return todo, len(urls) - len(todo)


def input_shards(shards: str | Path, out: Path) -> list[str]:
    """The shards `shards` names; refuses none, and label shards of `out` among them (they would be
    labelled again as input)."""
    urls = shard_urls(shards)
    if not urls:
        raise ConfigError(
            f"shards={shards}: names no shard (expected a brace pattern, a .tar file or a folder of them)"
        )
    local = {Path(url).resolve().parent for url in urls if not is_url(url)}
    if out.resolve() in local:
        raise ConfigError(
            f"out={out} is where the input shards are: its label shards would be read back as input; "
            "choose another output folder"
        )
    return urls


def label_shards(
    model: str | Path,
    shards: str | Path,
    out: str | Path,
    encoding: str = "npy16",
    input_size: int | None = None,
    batch_size: int = 4,
    device: str | None = None,
    dtype: str | None = None,
    quality: bool = True,
    progress: Callable[[int, int], None] | None = None,
    opener: Callable[[torch.device], Predictor] | None = None,
) -> ShardLabelResult:
    """Label the shards `shards` names into label shards in `out` (see the module doc), as this rank's
    part of a torchrun job (or alone). `quality=False` skips the flip pass (scores are stored as NaN).
    `progress(done, total)` counts this rank's shards.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown label encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
    out = Path(out)
    urls = input_shards(shards, out)
    env, torch_device = init_distributed(device)
    predictor = open_teacher(model, torch_device, dtype, input_size, batch_size, opener)
    identity = predictor_identity(model, predictor, encoding)
    barrier()  # every rank compares with the recorded teacher before rank 0 records this one
    on_main(lambda: prepare_output(out, identity), f"prepare {out}")
    todo, finished = on_main(lambda: pending_shards(out, urls), f"read {out}")
    mine = todo[env.rank :: env.world_size]
    labeler = ChunkLabeler(predictor, encoding, quality)
    digest = teacher_digest(identity)
    labeled = failed = done = attempted = 0
    scores: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    if progress:
        progress(0, len(mine))
    for position, url in mine:
        try:
            entry = label_whole_shard(labeler, out, position, url, digest)
        except ShardReadError as exc:
            log.warning("shard not labelled (a rerun tries it again): %s", exc)
            errors.append(str(exc))
        else:
            append_index(out, entry)
            for message in entry.failed:
                log.warning("skipped %s", message)
            labeled, failed, done = labeled + entry.count, failed + len(entry.failed), done + 1
            scores += entry.quality.astype(np.float32).tolist()
            errors += entry.failed
        attempted += 1
        if progress:
            progress(attempted, len(mine))
    elapsed = time.perf_counter() - start
    totals = all_reduce_sum(
        torch.tensor([labeled, failed, done, len(mine) - done], dtype=torch.float64, device=torch_device)
    ).tolist()
    slowest = all_reduce_max(elapsed, torch_device)
    gathered = all_gather_objects((scores, errors))
    barrier()
    all_scores = np.array([s for part, _ in gathered for s in part], dtype=np.float32)
    all_errors = [e for _, part in gathered for e in part]
    total_labeled, total_failed, shards_done, shards_failed = (int(v) for v in totals)
    return ShardLabelResult(
        total_labeled,
        total_failed,
        shards_done,
        finished,
        shards_failed,
        slowest,
        total_labeled / slowest if slowest > 0 else 0.0,
        out / "index.jsonl",
        all_scores,
        all_errors,
    )


def quality_summary(scores: np.ndarray) -> str:
    """The distribution of quality scores in one line (count, quantiles, mean)."""
    finite = scores[np.isfinite(scores)]
    if finite.size == 0:
        return "quality: no scores (--no-quality, or nothing labelled)"
    q = np.quantile(finite, [0.0, 0.1, 0.5, 0.9, 1.0])
    return (
        f"quality (flip consistency, 1 = mirror agrees) of {finite.size} labels: min {q[0]:.3f}, "
        f"p10 {q[1]:.3f}, median {q[2]:.3f}, p90 {q[3]:.3f}, max {q[4]:.3f}, mean {finite.mean():.3f}"
    )
