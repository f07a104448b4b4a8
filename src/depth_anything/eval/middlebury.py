"""The real-photo check: Middlebury's motorcycle, which scikit-image ships with its ground-truth
disparity (`skimage.data.stereo_motorcycle`).

One real image, so it checks a model rather than ranks it: pairwise ordinal accuracy (does the model
order two pixels by depth as the ground truth does, over pixel pairs whose disparities differ by at
least 15 %) and AbsRel/δ1 after least-squares scale-and-shift alignment in disparity. It is never a
training image (see `depth_anything.data.sample_photos`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..alignment import fit_scale_shift
from .metrics import compute_metrics

MIN_RATIO = 1.15  # pairs whose ground-truth disparities differ by at least 15 %
NUM_PAIRS = 200_000


@dataclass(frozen=True)
class RealImageScore:
    """Scores of one prediction against one real image's ground-truth disparity."""

    pairwise: float
    pairs: int
    abs_rel: float
    d1: float

    def to_dict(self) -> dict[str, float]:
        return {"pairwise": self.pairwise, "pairs": self.pairs, "abs_rel": self.abs_rel, "d1": self.d1}


def load_motorcycle() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left RGB uint8, ground-truth disparity float32, valid mask) of the Middlebury motorcycle."""
    import skimage.data

    left, _right, disparity = skimage.data.stereo_motorcycle()
    disparity = np.asarray(disparity, np.float32)
    valid = np.isfinite(disparity) & (disparity > 0)
    return np.asarray(left), np.where(valid, disparity, 0.0).astype(np.float32), valid


def ordinal_accuracy(
    pred_disparity: np.ndarray, gt_disparity: np.ndarray, valid: np.ndarray,
    min_ratio: float = MIN_RATIO, num_pairs: int = NUM_PAIRS, seed: int = 0,
) -> tuple[float, int]:
    """Share of random valid pixel pairs (ground-truth ratio ≥ `min_ratio`) that the prediction orders
    as the ground truth does (larger disparity = nearer); the pairs are fixed by `seed`."""
    pred = np.asarray(pred_disparity, np.float64)[valid]
    gt = np.asarray(gt_disparity, np.float64)[valid]
    rng = np.random.default_rng(seed)
    i = rng.integers(0, gt.size, num_pairs)
    j = rng.integers(0, gt.size, num_pairs)
    ratio = np.maximum(gt[i], gt[j]) / np.minimum(gt[i], gt[j])
    keep = ratio >= min_ratio
    agree = np.sign(pred[i[keep]] - pred[j[keep]]) == np.sign(gt[i[keep]] - gt[j[keep]])
    return float(agree.mean()) if keep.any() else 0.0, int(keep.sum())


def score_disparity(pred_disparity: np.ndarray, gt_disparity: np.ndarray, valid: np.ndarray) -> RealImageScore:
    """Pairwise accuracy, and AbsRel/δ1 of depth after aligning the disparity by least squares."""
    pairwise, pairs = ordinal_accuracy(pred_disparity, gt_disparity, valid)
    scale, shift = fit_scale_shift(np.asarray(pred_disparity, np.float64), gt_disparity.astype(np.float64), valid)
    aligned = scale * np.asarray(pred_disparity, np.float64) + shift
    floor = float(gt_disparity[valid].min()) * 0.01  # aligned disparity must stay positive to invert
    pred_depth = 1.0 / np.maximum(aligned, floor)
    gt_depth = np.where(valid, 1.0 / np.where(valid, gt_disparity, 1.0), 0.0)
    metrics = compute_metrics(pred_depth, gt_depth, valid)
    return RealImageScore(pairwise, pairs, float(metrics["abs_rel"]), float(metrics["d1"]))


def row_ramp(shape: tuple[int, int]) -> np.ndarray:
    """The "lower in the image is nearer" baseline: disparity = row index."""
    return np.repeat(np.arange(shape[0], dtype=np.float32)[:, None], shape[1], axis=1) + 1.0


def evaluate_motorcycle(predict: Callable[[list[np.ndarray]], list[np.ndarray]], metric: bool = False) -> RealImageScore:
    """Score `predict` (RGB arrays → maps) on the motorcycle; metric outputs are inverted to disparity."""
    left, gt, valid = load_motorcycle()
    pred = np.asarray(predict([left])[0], np.float64)
    if metric:
        pred = 1.0 / np.maximum(pred, 1e-6)
    return score_disparity(pred, gt, valid)
