"""The evaluation protocols: what is compared with what, over which pixels, after which alignment.

Zero-shot relative protocol: the model's output is affine-invariant disparity, so it is aligned to the
ground truth's disparity (1/depth) by least squares (scale and shift over the evaluated pixels),
clipped to the dataset's depth range, turned into depth, and compared inside the dataset's standard
crop. Metric protocol: the output is metres; it is used as is (or median-scaled when asked), clipped
to the dataset's cap, and compared inside the same crop.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np

from ..alignment import fit_scale_shift  # re-exported: eval's scale and shift fit is the package's one
from ..errors import ConfigError, DepthAnythingError
from .metrics import compute_metrics

ALIGNMENTS = ("affine", "median", "none")
PROTOCOL_KINDS = ("relative", "metric")
PRED_KINDS = ("disparity", "depth")


class BadSample(DepthAnythingError):
    """One sample cannot be scored (size mismatch, no valid pixels, NaN/inf); it is reported and excluded."""


@dataclass(frozen=True)
class DatasetSettings:
    """Per-dataset evaluation constants: the depth range kept (metres) and the standard crop."""

    min_depth: float
    max_depth: float
    crop: str | None = None


# Crops as fractions of (height, width): (top, bottom, left, right).
CROPS = MappingProxyType(
    {
        # Garg et al. 2016, the usual KITTI Eigen-split crop
        "garg": (0.40810811, 0.99189189, 0.03594771, 0.96405229),
        # Eigen et al. 2014 KITTI crop
        "eigen": (0.3324324, 0.91351351, 0.03594771, 0.96405229),
        # NYU Eigen crop: rows 45:471, columns 41:601 of 480×640 (removes the white border)
        "nyu": (45 / 480, 471 / 480, 41 / 640, 601 / 640),
    }
)


def crop_mask(shape: tuple[int, int], crop: str | None) -> np.ndarray:
    """Boolean H×W mask of the evaluation crop `crop` (all True for None)."""
    height, width = shape
    mask = np.zeros((height, width), dtype=bool)
    if crop is None:
        mask[:] = True
        return mask
    if crop not in CROPS:
        raise ConfigError(f"crop: unknown crop {crop!r}; choose one of {sorted(CROPS)} or none")
    top, bottom, left, right = CROPS[crop]
    mask[int(top * height) : int(bottom * height), int(left * width) : int(right * width)] = True
    return mask


@dataclass(frozen=True)
class Protocol:
    """How predictions are scored: kind, alignment, depth range (metres) and crop."""

    kind: str
    alignment: str
    min_depth: float
    max_depth: float
    crop: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in PROTOCOL_KINDS:
            raise ConfigError(f"protocol: kind must be one of {PROTOCOL_KINDS}, got {self.kind!r}")
        if self.alignment not in ALIGNMENTS:
            raise ConfigError(f"protocol: alignment must be one of {ALIGNMENTS}, got {self.alignment!r}")
        if not 0 < self.min_depth < self.max_depth:
            raise ConfigError(
                f"protocol: need 0 < min_depth < max_depth, got min_depth={self.min_depth}, max_depth={self.max_depth}"
            )
        if self.crop is not None and self.crop not in CROPS:
            raise ConfigError(f"protocol: unknown crop {self.crop!r}; choose one of {sorted(CROPS)} or none")


def protocol_for(
    settings: DatasetSettings,
    kind: str = "relative",
    alignment: str | None = None,
    min_depth: float | None = None,
    max_depth: float | None = None,
    crop: str | None = "default",
) -> Protocol:
    """The standard protocol of a dataset's `settings` ("relative": affine alignment; "metric": none),
    with overrides; each benchmark's settings are in `eval.benchmarks.BENCHMARKS`."""
    protocol = Protocol(
        kind=kind,
        alignment=alignment or ("affine" if kind == "relative" else "none"),
        min_depth=settings.min_depth,
        max_depth=settings.max_depth,
        crop=settings.crop,
    )
    overrides: dict[str, object] = {}
    if min_depth is not None:
        overrides["min_depth"] = float(min_depth)
    if max_depth is not None:
        overrides["max_depth"] = float(max_depth)
    if crop != "default":
        overrides["crop"] = None if crop in (None, "none") else crop
    return replace(protocol, **overrides) if overrides else protocol


def align_disparity_affine(pred_disparity: np.ndarray, gt_depth: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Least-squares scale and shift mapping predicted disparity onto the ground truth's 1/depth over `mask`
    (`alignment.fit_scale_shift`: a prediction flat over `mask` is only shifted)."""
    disparity = np.zeros(gt_depth.shape, np.float64)
    disparity[mask] = 1.0 / gt_depth[mask].astype(np.float64)
    return fit_scale_shift(pred_disparity, disparity, mask)


def median_scale(pred_depth: np.ndarray, gt_depth: np.ndarray, mask: np.ndarray) -> float:
    """Scale making the prediction's median equal the ground truth's over `mask`."""
    pred_median = float(np.median(pred_depth[mask]))
    if pred_median <= 0:
        raise BadSample(f"median scaling: prediction median over valid pixels is {pred_median}, not positive")
    return float(np.median(gt_depth[mask])) / pred_median


def to_depth(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, protocol: Protocol, pred_kind: str
) -> np.ndarray:
    """The prediction as metric depth under `protocol`, clipped to its depth range."""
    pred = pred.astype(np.float64)
    if protocol.alignment == "affine":
        # A metric-depth prediction is turned into disparity first: the alignment is always in disparity.
        disparity = pred if pred_kind == "disparity" else 1.0 / np.maximum(pred, 1e-8)
        scale, shift = align_disparity_affine(disparity, gt, mask)
        disparity = np.clip(scale * disparity + shift, 1.0 / protocol.max_depth, 1.0 / protocol.min_depth)
        return 1.0 / disparity
    if pred_kind != "depth":
        raise ConfigError(
            f"alignment {protocol.alignment!r} needs metric depth predictions, but the predictions are "
            "relative disparity; use the relative protocol (affine alignment) or a metric model"
        )
    if protocol.alignment == "median":
        pred = pred * median_scale(pred, gt, mask)
    return np.clip(pred, protocol.min_depth, protocol.max_depth)


def evaluation_mask(gt: np.ndarray, valid: np.ndarray | None, protocol: Protocol) -> np.ndarray:
    """Pixels scored: valid ground truth strictly inside the depth range, inside the crop."""
    mask = np.isfinite(gt) if valid is None else valid.astype(bool)
    with np.errstate(invalid="ignore"):
        mask = mask & (gt > protocol.min_depth) & (gt < protocol.max_depth)
    return mask & crop_mask(gt.shape, protocol.crop)


def score_prediction(
    pred: np.ndarray,
    gt: np.ndarray | None,
    valid: np.ndarray | None,
    protocol: Protocol,
    pred_kind: str = "disparity",
) -> dict[str, float]:
    """Metrics of one prediction under `protocol`; raises `BadSample` naming what is wrong with the input."""
    if pred_kind not in PRED_KINDS:
        raise ConfigError(f"pred_kind must be one of {PRED_KINDS}, got {pred_kind!r}")
    if gt is None:
        raise BadSample("no ground truth")
    pred = np.asarray(pred)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise BadSample(f"prediction size {pred.shape} differs from ground truth size {gt.shape}")
    if valid is not None and valid.shape != gt.shape:
        raise BadSample(f"valid mask size {valid.shape} differs from ground truth size {gt.shape}")
    bad_pred = int((~np.isfinite(pred)).sum())
    if bad_pred:
        raise BadSample(f"prediction has {bad_pred} NaN/inf values")
    if valid is not None:
        bad_gt = int((~np.isfinite(gt[valid.astype(bool)])).sum())
        if bad_gt:
            raise BadSample(f"ground truth has {bad_gt} NaN/inf values inside its valid mask")
    mask = evaluation_mask(gt, valid, protocol)
    if not mask.any():
        raise BadSample(
            f"empty valid mask: no ground-truth pixel in ({protocol.min_depth}, {protocol.max_depth}) m "
            f"inside crop {protocol.crop or 'none'}"
        )
    depth = to_depth(pred, gt, mask, protocol, pred_kind)
    metrics = compute_metrics(depth, gt, mask)
    if not all(np.isfinite(v) for v in metrics.values()):
        raise BadSample(f"metrics are not finite after alignment: {metrics}")
    return metrics


AGREEMENT_NEAR_FAR = (1.0, 10.0)  # the reference disparity's range mapped to these depths


def depth_agreement(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """AbsRel and δ1 of `candidate` against `reference` (two H×W relative disparity maps of one image,
    e.g. int8 and fp32, or tiled and whole-image), scored by the relative protocol above: the
    reference's disparity range is taken as depths 1-10 (a 10:1 scene), the candidate aligned to it by
    least-squares scale and shift in disparity, then compared as depth."""
    reference = np.asarray(reference, np.float64)
    low, high = float(reference.min()), float(reference.max())
    if not high > low:
        raise ValueError("the reference disparity map is constant; there is nothing to compare")
    near, far = AGREEMENT_NEAR_FAR
    disparity = 1.0 / far + (reference - low) / (high - low) * (1.0 / near - 1.0 / far)
    protocol = Protocol("relative", "affine", near * 0.5, far * 2.0)
    metrics = score_prediction(np.asarray(candidate, np.float64), 1.0 / disparity, None, protocol, "disparity")
    return {"abs_rel": metrics["abs_rel"], "d1": metrics["d1"]}
