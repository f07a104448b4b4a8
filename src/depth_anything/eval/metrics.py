"""Depth metrics with the definitions of the official Depth Anything V2 metric-depth code.

All metrics are computed over the valid pixels only (pass them already masked, or pass `mask`).
Per-image values are averaged over images, as in the published tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

METRIC_NAMES: tuple[str, ...] = ("d1", "d2", "d3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog")
HIGHER_IS_BETTER: frozenset[str] = frozenset({"d1", "d2", "d3"})
METRIC_LABELS: dict[str, str] = {
    "d1": "δ1", "d2": "δ2", "d3": "δ3", "abs_rel": "AbsRel", "sq_rel": "SqRel", "rmse": "RMSE",
    "rmse_log": "RMSE_log", "log10": "log10", "silog": "SILog",
}


def compute_metrics(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """All metrics of `METRIC_NAMES` for one image; `pred` and `gt` are positive depths.

    δk: share of pixels with max(gt/pred, pred/gt) < 1.25^k; abs_rel = mean(|p−g|/g);
    sq_rel = mean((p−g)²/g); rmse = sqrt(mean((p−g)²)); rmse_log = sqrt(mean(d²)) with d = ln p − ln g;
    log10 = mean(|log10 p − log10 g|); silog = sqrt(mean(d²) − 0.5·mean(d)²).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}")
    if mask is not None:
        pred, gt = pred[mask], gt[mask]
    pred, gt = pred.ravel(), gt.ravel()
    if pred.size == 0:
        raise ValueError("no valid pixels to compute metrics over")
    if (pred <= 0).any() or (gt <= 0).any():
        raise ValueError("metrics need positive depths in prediction and ground truth")
    ratio = np.maximum(gt / pred, pred / gt)
    diff = pred - gt
    diff_log = np.log(pred) - np.log(gt)
    mean_sq_log = float(np.mean(diff_log**2))
    return {
        "d1": float(np.mean(ratio < 1.25)),
        "d2": float(np.mean(ratio < 1.25**2)),
        "d3": float(np.mean(ratio < 1.25**3)),
        "abs_rel": float(np.mean(np.abs(diff) / gt)),
        "sq_rel": float(np.mean(diff**2 / gt)),
        "rmse": float(np.sqrt(np.mean(diff**2))),
        "rmse_log": math.sqrt(mean_sq_log),
        "log10": float(np.mean(np.abs(np.log10(pred) - np.log10(gt)))),
        # max(…, 0) guards a −1e-17 from rounding when all log differences are equal
        "silog": math.sqrt(max(mean_sq_log - 0.5 * float(np.mean(diff_log)) ** 2, 0.0)),
    }


@dataclass
class MetricAverager:
    """Running per-image averages: O(1) memory in the number of images."""

    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(METRIC_NAMES, 0.0))
    count: int = 0

    def add(self, metrics: dict[str, float]) -> None:
        """Add one image's metrics."""
        for name in METRIC_NAMES:
            self.sums[name] += metrics[name]
        self.count += 1

    def means(self) -> dict[str, float]:
        """Averages over the images added so far (NaN when none)."""
        return {name: (total / self.count if self.count else math.nan) for name, total in self.sums.items()}
