"""DA-2K: relative depth between sparse point pairs, scored as the share of pairs ordered correctly.

`annotations.json` maps an image path (relative to the benchmark folder, e.g. `images/indoor/x.jpg`)
to a list of pairs `{"point1": [h, w], "point2": [h, w], "closer_point": "point1"}`. A prediction is
right when the closer point has the larger value for relative (disparity) output, or the smaller
value for metric depth. Accuracy is reported overall and per scene type, read from the image path.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.datasets import DepthSample
from ..errors import DatasetError, DepthAnythingError
from ..io import load_image
from .benchmarks import PredictFn, PredictionStore, ProgressFn, predict_with_cache
from .protocols import PRED_KINDS

SCENE_TYPES: tuple[str, ...] = (
    "indoor", "outdoor", "non_real", "transparent_reflective", "adverse_style", "aerial", "underwater", "object",
)


@dataclass(frozen=True)
class PointPair:
    """One annotated pair: `closer` and `farther` as (row, column) pixel positions."""

    closer: tuple[int, int]
    farther: tuple[int, int]


def scene_type_of(image_path: str) -> str:
    """The scene type named by a folder of the image path (e.g. `images/indoor/x.jpg` → indoor), else "other"."""
    for part in Path(image_path).parts[:-1]:
        if part in SCENE_TYPES:
            return part
    return "other"


def _point(value: Any, where: str) -> tuple[int, int]:
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)):
        raise DatasetError(f"{where}: expected a point [h, w], found {value!r}")
    return int(round(value[0])), int(round(value[1]))


def load_annotations(path: str | Path) -> dict[str, list[PointPair]]:
    """Parse and validate `annotations.json`; errors name the image and pair at fault."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"da2k: annotation file {path} not found") from None
    except (OSError, ValueError) as exc:
        raise DatasetError(f"da2k: cannot parse {path} ({exc})") from None
    if not isinstance(raw, dict):
        raise DatasetError(f"{path}: expected an object mapping image paths to point pairs")
    annotations: dict[str, list[PointPair]] = {}
    for image, pairs in raw.items():
        if not isinstance(pairs, list):
            raise DatasetError(f"{path}: {image}: expected a list of pairs, found {type(pairs).__name__}")
        parsed = []
        for i, pair in enumerate(pairs):
            where = f"{path}: {image} pair {i}"
            if not isinstance(pair, dict):
                raise DatasetError(f"{where}: expected an object, found {pair!r}")
            closer = pair.get("closer_point")
            if closer not in ("point1", "point2"):
                raise DatasetError(f"{where}: closer_point must be 'point1' or 'point2', found {closer!r}")
            far = "point2" if closer == "point1" else "point1"
            parsed.append(PointPair(_point(pair.get(closer), f"{where} {closer}"), _point(pair.get(far), f"{where} {far}")))
        annotations[image] = parsed
    return annotations


def pair_is_correct(prediction: np.ndarray, pair: PointPair, pred_kind: str = "disparity") -> bool:
    """True when the prediction orders the pair as annotated (ties count as wrong)."""
    near = float(prediction[pair.closer])
    far = float(prediction[pair.farther])
    return near > far if pred_kind == "disparity" else near < far


@dataclass
class Tally:
    """Correct pairs out of scored pairs."""

    correct: int = 0
    total: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.total if self.total else None


@dataclass
class DA2KReport:
    """Overall and per-scene-type accuracy, with every excluded image or pair and its reason."""

    model: str
    overall: Tally = field(default_factory=Tally)
    per_scene: dict[str, Tally] = field(default_factory=dict)
    excluded: list[dict[str, str]] = field(default_factory=list)
    num_images: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary with accuracies spelled out."""
        def tally(t: Tally) -> dict[str, Any]:
            return {**asdict(t), "accuracy": t.accuracy}

        return {
            "benchmark": "da2k", "model": self.model, "num_images": self.num_images,
            "accuracy": self.overall.accuracy, "correct": self.overall.correct, "total": self.overall.total,
            "per_scene": {k: tally(v) for k, v in sorted(self.per_scene.items())},
            "num_excluded": len(self.excluded), "excluded": self.excluded,
        }

    def markdown(self) -> str:
        """Accuracy (%) overall and per scene type, as in the paper's DA-2K table."""
        scenes = [s for s in (*SCENE_TYPES, "other") if s in self.per_scene]
        head = ["Model", "Pairs", "Excluded", "Overall", *scenes]

        def pct(t: Tally) -> str:
            return "–" if t.accuracy is None else f"{100 * t.accuracy:.1f}"

        cells = [self.model, str(self.overall.total), str(len(self.excluded)), pct(self.overall)]
        cells += [pct(self.per_scene[s]) for s in scenes]
        return "\n".join(
            ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1), "| " + " | ".join(cells) + " |"]
        )


def evaluate_da2k(
    root: str | Path,
    predict: PredictFn,
    *,
    pred_kind: str = "disparity",
    model_name: str = "model",
    batch_size: int = 4,
    predictions: PredictionStore | None = None,
    progress: ProgressFn | None = None,
    limit: int | None = None,
    annotations: str | Path | None = None,
) -> DA2KReport:
    """Score `predict` on DA-2K under `root` (images + annotations.json), one batch of images at a time;
    `progress(done, total)` is called with the images handled after each batch."""
    if pred_kind not in PRED_KINDS:
        raise DatasetError(f"pred_kind must be one of {PRED_KINDS}, got {pred_kind!r}")
    root = Path(root)
    table = load_annotations(annotations or root / "annotations.json")
    images = list(table)[:limit] if limit is not None else list(table)
    report = DA2KReport(model=model_name)
    if progress is not None:
        progress(0, len(images))
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        paths: list[str] = []
        batch: list[DepthSample] = []
        for image_path in chunk:
            try:
                image = load_image(root / image_path)
            except (DepthAnythingError, OSError) as exc:
                report.excluded.append({"name": image_path, "reason": f"cannot read image: {exc}"})
                continue
            paths.append(image_path)
            batch.append(DepthSample(name=Path(image_path).with_suffix("").as_posix(), image=image))
        outputs = predict_with_cache(batch, predict, predictions) if batch else []
        for image_path, sample, output in zip(paths, batch, outputs, strict=True):
            _score_image(report, image_path, table[image_path], output, sample.image.shape[:2], pred_kind)
        report.num_images += len(batch)
        if progress is not None:
            progress(start + len(chunk), len(images))
    return report


def _score_image(
    report: DA2KReport, image_path: str, pairs: list[PointPair], prediction: np.ndarray | None,
    shape: tuple[int, int], pred_kind: str,
) -> None:
    if prediction is None or prediction.shape != shape:
        got = None if prediction is None else prediction.shape
        report.excluded.append({"name": image_path, "reason": f"prediction size {got} differs from image size {shape}"})
        return
    scene = report.per_scene.setdefault(scene_type_of(image_path), Tally())
    height, width = shape
    for i, pair in enumerate(pairs):
        where = f"{image_path} pair {i}"
        if not all(0 <= r < height and 0 <= c < width for r, c in (pair.closer, pair.farther)):
            report.excluded.append({"name": where, "reason": f"point outside the {height}×{width} image: {pair}"})
            continue
        values = (prediction[pair.closer], prediction[pair.farther])
        if not np.isfinite(values).all():
            report.excluded.append({"name": where, "reason": "prediction is NaN/inf at an annotated point"})
            continue
        correct = pair_is_correct(prediction, pair, pred_kind)
        for tally in (report.overall, scene):
            tally.total += 1
            tally.correct += int(correct)
