"""Pseudo-labeling: a trained teacher predicts disparity for a folder of unlabeled images.

The labels and their manifest follow the format of `depth_anything.data.pseudo` (which also reads
them back as the "pseudo" dataset layout). A rerun skips images whose label exists, but only when the
manifest names the same teacher (model file, its size and modification time, input size, dtype,
encoding); another teacher is refused. OUT may not lie inside IMAGES. Under torchrun the image list is
sharded over ranks.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..data.pseudo import ENCODINGS, MANIFEST, label_path, write_label, write_manifest
from ..errors import ConfigError
from ..inference import Predictor
from ..io import list_images
from ..weights import load_model, weights_identity
from .distributed import all_reduce_max, all_reduce_sum, barrier, init_distributed, on_main

log = logging.getLogger(__name__)


@dataclass
class LabelResult:
    """Counts over all ranks; `images_per_second` is labeled images over the slowest rank's time."""

    labeled: int
    skipped_existing: int
    failed: int
    seconds: float
    images_per_second: float
    manifest: Path


def open_teacher(
    model: str | Path, device: torch.device, dtype: str | None, input_size: int | None, batch_size: int,
    opener: Callable[[torch.device], Predictor] | None = None,
) -> Predictor:
    """The teacher on `device`: `opener(device)` when given (a model on any backend), else `model`'s
    weights on torch. The one way every labelling engine opens it."""
    if opener is not None:
        return opener(device)
    return Predictor(load_model(model, device=device), device, dtype, input_size, batch_size)


def label_images(
    model: str | Path,
    images: str | Path,
    out: str | Path,
    encoding: str = "npy16",
    input_size: int | None = None,
    batch_size: int = 4,
    device: str | None = None,
    dtype: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    opener: Callable[[torch.device], Predictor] | None = None,
) -> LabelResult:
    """Pseudo-label every image below `images` into `out` with the model at `model` (see module doc);
    `opener`, if given, opens that model (on any backend) for this rank's device, instead of torch.

    `progress(done, total)` is called on every rank as its share advances (images already labeled
    count as done); the command line draws its bar with it.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown label encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
    images, out = Path(images), Path(out)
    if out.resolve() == images.resolve() or images.resolve() in out.resolve().parents:
        raise ConfigError(
            f"out={out} lies inside images={images}: labels would be read back as images; choose an output "
            "folder outside the images folder"
        )
    env, torch_device = init_distributed(device)
    predictor = open_teacher(model, torch_device, dtype, input_size, batch_size, opener)
    identity = predictor_identity(model, predictor, encoding)
    check_teacher(out, identity)
    barrier()  # every rank has compared with the old manifest before rank 0 records this teacher
    # recorded before any label is written, so a crashed run still names its teacher
    on_main(lambda: write_manifest(out, images, encoding, identity), f"write {out / MANIFEST}")
    files = list_images(images)
    mine = files[env.rank :: env.world_size]
    todo = [f for f in mine if not label_path(out, f.relative_to(images), encoding).is_file()]
    failed = 0
    start = time.perf_counter()
    done = len(mine) - len(todo)
    if progress:
        progress(done, len(mine))
    for result in predictor.iter_results(todo):  # input order, a window of images read at a time
        if result.error is not None:
            failed += 1
            log.warning("skipped %s", result.error)
        else:
            write_label(label_path(out, Path(result.source).relative_to(images), encoding), result.depth, encoding)
        done += 1
        if progress:
            progress(done, len(mine))
    elapsed = time.perf_counter() - start
    labeled_here = len(todo) - failed
    totals = all_reduce_sum(
        torch.tensor([labeled_here, len(mine) - len(todo), failed], dtype=torch.float64, device=torch_device)
    ).tolist()
    slowest = all_reduce_max(elapsed, torch_device)
    barrier()
    manifest = out / MANIFEST
    on_main(lambda: write_manifest(out, images, encoding, identity), f"write {manifest}")
    labeled, existing, bad = (int(v) for v in totals)
    return LabelResult(labeled, existing, bad, slowest, labeled / slowest if slowest > 0 else 0.0, manifest)


def teacher_identity(model: str | Path, input_size: int, dtype: torch.dtype | str, encoding: str) -> dict[str, Any]:
    """What decides the labels' values: the weights (see `weights_identity`), input size, dtype and
    encoding. Labels written under another identity must not be mixed with new ones."""
    return {
        **weights_identity(model),
        "input_size": int(input_size),
        "dtype": str(dtype).removeprefix("torch."),
        "encoding": encoding,
    }


def predictor_identity(model: str | Path, predictor: Predictor, encoding: str) -> dict[str, Any]:
    """`teacher_identity` of an opened Predictor, naming its backend unless it is torch."""
    identity = teacher_identity(model, predictor.input_size, predictor.dtype, encoding)
    backend = getattr(predictor.runtime, "name", "torch")
    if backend != "torch":  # runtimes agree to about 1e-5, not bit for bit (torch labels keep their old identity)
        identity["backend"] = backend
    return identity


def _holds_labels(out: Path) -> bool:
    """Whether `out` holds labels of either mode (a labels/ tree, label shards or their index)."""
    if (out / "labels").is_dir() and any(p.is_file() for p in (out / "labels").rglob("*")):
        return True
    return (out / "index.jsonl").is_file() or any(out.glob("labels-*.tar"))


def check_teacher(out: Path, identity: dict[str, Any], record: str = MANIFEST) -> None:
    """Refuse to add labels to `out` when its `record` (the folder mode's manifest, or the shard mode's
    teacher.json) was written by another teacher setting."""
    path = out / record
    if not path.is_file():
        if _holds_labels(out):
            raise ConfigError(f"out={out} holds labels but no {record}: their teacher is unknown; use a new folder")
        return
    try:
        recorded = json.loads(path.read_text(encoding="utf-8")).get("teacher")
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise ConfigError(f"{path} is not a readable manifest ({exc}); use a new output folder") from None
    if recorded != identity:
        def show(value: Any) -> str:
            return json.dumps(value, sort_keys=True) if value is not None else "no teacher recorded"

        differing = sorted(k for k in identity if not isinstance(recorded, dict) or recorded.get(k) != identity[k])
        raise ConfigError(
            f"{out} holds labels of another teacher setting (differs in: {', '.join(differing)}); "
            f"recorded {show(recorded)}, now {show(identity)}. Relabel into a new folder (out=) "
            "(or delete the old labels)"
        )
