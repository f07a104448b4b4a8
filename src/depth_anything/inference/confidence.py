"""Per-pixel confidence from flip consistency: how much a prediction disagrees with the prediction of
the horizontally mirrored image, mirrored back.

The authors of Depth Anything suggest it for a confidence map (official issue #83): a network that
really sees the geometry gives the same depth for a scene and its mirror image, while guesses (thin
structures, depth edges, reflections, textureless walls) change. It costs a second forward pass, so
it is asked for, never computed by default. The mirrored copy of each image runs in the same batch as
the image itself (equal network shapes).

Disagreement is relative, so it means the same for metric depth (metres) and for relative models'
disparity (no scale): |a - b| / ((|a| + |b|) / 2), with the denominator floored at `RELATIVE_FLOOR`
of the image's median magnitude (so near-zero disparity of the sky does not blow up). Confidence maps
it monotonically to (0, 1]: 1 / (1 + disagreement / scale), one half at `CONFIDENCE_SCALE` (5 %
disagreement). Pixels without a finite prediction have confidence 0. The per-image summary `score` is
the mean confidence of the valid pixels: one number for ranking whole images (label quality).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import ImageReadError
from ..io import ImageSource, load_image
from .predictor import PredictionResult, Predictor, image_name

# relative disagreement at which confidence is one half
CONFIDENCE_SCALE = 0.05
# the smallest denominator of the relative disagreement, as a fraction of the image's median magnitude
RELATIVE_FLOOR = 0.01


@dataclass
class FlipConsistency:
    """One image's flip consistency (all maps H×W float32 at the image's size).

    `depth`: the plain prediction (what `Predictor.predict` gives); `flipped`: the prediction of the
    mirrored image, mirrored back; `disagreement`: their relative difference (inf where either is not
    finite); `confidence`: in [0, 1], 1 = both agree, 0 = no valid prediction; `score`: the mean
    confidence of the pixels with a valid prediction (0 when there are none).
    """

    depth: np.ndarray
    flipped: np.ndarray
    disagreement: np.ndarray
    confidence: np.ndarray
    score: float


def flip_disagreement(depth: np.ndarray, flipped: np.ndarray) -> np.ndarray:
    """Relative difference |a - b| / ((|a| + |b|) / 2) of two maps of one image (see the module doc);
    inf where either value is not finite."""
    a = np.asarray(depth, dtype=np.float64)
    b = np.asarray(flipped, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"the two predictions differ in shape: {a.shape} and {b.shape}")
    finite = np.isfinite(a) & np.isfinite(b)
    magnitude = np.where(finite, (np.abs(a) + np.abs(b)) / 2.0, 0.0)
    median = float(np.median(magnitude[finite])) if finite.any() else 0.0
    floor = max(RELATIVE_FLOOR * median, np.finfo(np.float32).tiny)
    with np.errstate(invalid="ignore"):
        relative = np.abs(a - b) / np.maximum(magnitude, floor)
    return np.where(finite, relative, np.inf).astype(np.float32)


def confidence_from_disagreement(disagreement: np.ndarray, scale: float = CONFIDENCE_SCALE) -> np.ndarray:
    """Confidence in [0, 1]: 1 / (1 + disagreement / scale); 0 where the disagreement is inf or NaN."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    disagreement = np.asarray(disagreement, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        confidence = 1.0 / (1.0 + disagreement / scale)
    return np.where(np.isfinite(disagreement), confidence, 0.0).astype(np.float32)


def confidence_score(confidence: np.ndarray) -> float:
    """The per-image summary: mean confidence of the pixels with a valid prediction (confidence > 0);
    0 for an image without any."""
    confidence = np.asarray(confidence)
    valid = confidence > 0
    return float(confidence[valid].mean()) if valid.any() else 0.0


def flip_consistency(
    depth: np.ndarray, flipped: np.ndarray, scale: float = CONFIDENCE_SCALE
) -> FlipConsistency:
    """The flip consistency of a prediction `depth` and `flipped`, the prediction of the mirrored image
    already mirrored back to `depth`'s orientation."""
    disagreement = flip_disagreement(depth, flipped)
    confidence = confidence_from_disagreement(disagreement, scale)
    return FlipConsistency(
        np.asarray(depth, np.float32),
        np.asarray(flipped, np.float32),
        disagreement,
        confidence,
        confidence_score(confidence),
    )


def iter_results_with_confidence(
    predictor: Predictor, images: Iterable[ImageSource], scale: float = CONFIDENCE_SCALE
) -> Iterator[tuple[PredictionResult, FlipConsistency | None]]:
    """Each image's result (as `Predictor.iter_results` gives it: `source` and `index` are the input's,
    a bad image has `error` set and the run goes on) with its flip consistency (None for a bad image).

    Each image and its mirror image go through the predictor one after the other, so they share a
    batch; memory stays as flat as the predictor's own."""
    paired: deque[tuple[ImageSource, bool]] = deque()  # each input and whether its mirror image follows
    lock = threading.Lock()

    def with_mirrors() -> Iterator[ImageSource]:
        for index, source in enumerate(images):
            try:
                rgb = load_image(source, image_name(source, index))
            except ImageReadError:
                with lock:
                    paired.append((source, False))
                yield source  # the predictor reads it again and reports the error in its own words
                continue
            with lock:
                paired.append((source, True))
            yield rgb
            yield np.ascontiguousarray(rgb[:, ::-1])

    results = predictor.iter_results(with_mirrors())
    for index, result in enumerate(results):
        with lock:
            source, mirrored = paired.popleft()
        result.source, result.index = source, index
        if not mirrored:
            yield result, None
            continue
        mirror = next(results)  # taken even when the image failed, so the next input meets its own result
        if result.depth is None:
            yield result, None
            continue
        if mirror.depth is None:
            yield result, None
            continue
        consistency = flip_consistency(result.depth, mirror.depth[:, ::-1], scale)
        del mirror
        yield result, consistency


def predict_with_confidence(
    predictor: Predictor, image: ImageSource, scale: float = CONFIDENCE_SCALE
) -> FlipConsistency:
    """Depth and flip-consistency confidence of one image (two forward passes, one batch); an unreadable
    image raises `ImageReadError` naming it."""
    for result, consistency in iter_results_with_confidence(predictor, [image], scale):
        if consistency is None:
            raise ImageReadError(result.error or f"{image_name(image, 0)}: no prediction")
        return consistency
    raise ImageReadError(
        f"{image_name(image, 0)}: no prediction"
    )  # pragma: no cover - one input gives one result


__all__ = [
    "CONFIDENCE_SCALE",
    "FlipConsistency",
    "confidence_from_disagreement",
    "confidence_score",
    "flip_consistency",
    "flip_disagreement",
    "iter_results_with_confidence",
    "predict_with_confidence",
]
