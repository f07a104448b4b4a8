"""The masked least-squares scale and shift fit, in one place.

A relative model's output is only defined up to a scale and a shift, so several parts of the package fit
one map to another before comparing or combining them: the evaluation protocol (prediction onto the
ground truth's disparity), tiled inference (each tile onto the global prediction or the mosaic so far),
the export checks (an exported file's map onto PyTorch's, through the evaluation protocol) and dense
metric depth from sparse metric data (`align_to_metric`: a prediction onto stereo depth, LiDAR points or
a CSV of pixel → metres, robustly, with `TemporalAlignment` smoothing the fit over a sequence). They all
use `fit_scale_shift` here, so they agree on the arithmetic and on what a flat map gets. numpy (and
OpenCV to read sparse depth images) only: `inference` may import it without pulling in torch or `eval`.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ConfigError

# A source whose variance over the fitted pixels is at most FLAT_TOLERANCE·(1 + mean²) is flat: its
# spread is at float32 resolution (std ≤ 1e-6 of its magnitude, or 1e-6 absolute near zero).
FLAT_TOLERANCE = 1e-12


def fit_scale_shift(
    source: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None
) -> tuple[float, float]:
    """Least-squares (scale, shift) with scale·source + shift ≈ target over `mask` (all pixels if None),
    computed in float64 from centred moments.

    Flat rule: a source that is flat over the mask (see FLAT_TOLERANCE) gets scale 1 and the shift that
    matches the means. That puts the fitted values on the mask where any least-squares answer puts them
    (the target's mean), but keeps the answer stable instead of fitting a scale to rounding noise."""
    source = np.asarray(source)
    target = np.asarray(target)
    if mask is None:
        x, y = source.astype(np.float64).ravel(), target.astype(np.float64).ravel()
    else:
        mask = np.asarray(mask, bool)
        x, y = source[mask].astype(np.float64), target[mask].astype(np.float64)
    if x.shape != y.shape:
        raise ValueError(f"fit_scale_shift: source gives {x.size} values and target {y.size}; they must match")
    if x.size == 0:
        raise ValueError("fit_scale_shift: no pixel to fit (empty source or mask)")
    mean_x, mean_y = x.mean(), y.mean()
    variance = np.mean((x - mean_x) ** 2)
    if variance <= FLAT_TOLERANCE * (1.0 + mean_x**2):
        return 1.0, float(mean_y - mean_x)
    scale = np.mean((x - mean_x) * (y - mean_y)) / variance
    return float(scale), float(mean_y - scale * mean_x)


# ------------------------------------------------------------------ dense metric depth from sparse data
PREDICTION_KINDS = ("disparity", "depth")  # what a prediction holds: relative disparity-like values, or metres
MIN_POINTS = 8  # fewer valid metric pixels than this: no fit (a sequence keeps its previous one)
OUTLIER_SIGMAS = 3.0  # residuals beyond this many robust standard deviations are left out of the refit
ROBUST_ROUNDS = 3
# a scale-and-shift fit that puts more than this share of the map beyond the farthest plausible depth (or
# has a scale ≤ 0) extrapolates a narrow measured range wildly: fall back to a scale alone
BEYOND_RANGE_SHARE = 0.01


def robust_fit_scale_shift(
    source: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None, rounds: int = ROBUST_ROUNDS,
    sigmas: float = OUTLIER_SIGMAS,
) -> tuple[tuple[float, float], np.ndarray]:
    """`fit_scale_shift` refitted `rounds` times on the pixels whose residual is within `sigmas` robust
    standard deviations (1.4826 × the median absolute residual): stereo mismatches and wrong LiDAR returns
    are far off the line and would tilt a plain least-squares fit. Returns ((scale, shift), inlier mask)."""
    source, target = np.asarray(source), np.asarray(target)
    inliers = np.ones(source.shape, bool) if mask is None else np.asarray(mask, bool).copy()
    scale, shift = fit_scale_shift(source, target, inliers)
    for _ in range(rounds):
        residual = np.abs(scale * source.astype(np.float64) + shift - target)
        spread = 1.4826 * float(np.median(residual[inliers]))
        if spread <= 0.0:
            break
        kept = inliers & (residual <= sigmas * spread)
        if kept.sum() < MIN_POINTS or np.array_equal(kept, inliers):
            break
        inliers = kept
        scale, shift = fit_scale_shift(source, target, inliers)
    return (scale, shift), inliers


@dataclass(frozen=True)
class AlignedDepth:
    """Dense metric depth (metres, float32) made from a prediction and sparse metric data, and the fit:
    aligned disparity = scale · prediction's disparity + shift, over `points` valid pixels (`inliers` kept)."""

    depth: np.ndarray
    scale: float
    shift: float
    points: int
    inliers: int
    fitted: bool = True  # False: too few points in this frame, an earlier fit was reused
    scale_only: bool = False  # True: the scale-and-shift fit extrapolated wildly, a scale alone was fitted


def _prediction_disparity(prediction: np.ndarray, kind: str) -> np.ndarray:
    if kind not in PREDICTION_KINDS:
        raise ConfigError(f"prediction kind {kind!r}: give one of {', '.join(PREDICTION_KINDS)}")
    prediction = np.asarray(prediction, np.float64)
    if kind == "disparity":
        return prediction
    with np.errstate(divide="ignore"):
        return np.where(prediction > 0, 1.0 / prediction, 0.0)


def _valid_metric(metric: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    metric = np.asarray(metric)
    ok = np.isfinite(metric) & (metric > 0)
    return ok if valid is None else ok & np.asarray(valid, bool)


def aligned_depth(disparity: np.ndarray, scale: float, shift: float, max_depth: float) -> np.ndarray:
    """Metres from a disparity map through scale · disparity + shift; disparities at or below 1/max_depth
    (beyond the farthest plausible point, or negative after the fit) become `max_depth`."""
    aligned = scale * np.asarray(disparity, np.float64) + shift
    return (1.0 / np.maximum(aligned, 1.0 / max_depth)).astype(np.float32)


def align_to_metric(
    prediction: np.ndarray, metric: np.ndarray, valid: np.ndarray | None = None, kind: str = "disparity",
    robust: bool = True, max_depth: float | None = None,
) -> AlignedDepth:
    """Dense metric depth from a dense `prediction` and sparse or holey metric depth `metric` (metres, same
    H×W; 0, negative or non-finite = no measurement; `valid` narrows it further): a scale and shift fitted in
    disparity (1/metres), where a relative model's output is affine, robustly (`robust_fit_scale_shift`) on
    the measured pixels. `kind` says what the prediction holds: "disparity" (relative models) or "depth"
    (metres, metric models). `max_depth` caps the result (default: twice the farthest measurement).

    Measurements that cover a narrow range (stereo that only matches a textured far wall) can give a line
    that sends part of the map past `max_depth` or below zero disparity; when more than BEYOND_RANGE_SHARE
    of the map would end there, a scale alone (the median ratio of disparities) is fitted instead
    (`scale_only` in the result): coarser where the fit is good, never wildly wrong."""
    prediction = np.asarray(prediction)
    metric = np.asarray(metric)
    if prediction.shape != metric.shape:
        raise ConfigError(f"prediction is {prediction.shape[0]}×{prediction.shape[1]} but the metric depth is "
                          f"{metric.shape[0]}×{metric.shape[1]}; give metric depth at the prediction's size")
    mask = _valid_metric(metric, valid)
    points = int(mask.sum())
    if points < MIN_POINTS:
        raise ConfigError(f"{points} valid metric point(s): at least {MIN_POINTS} are needed to fit a scale and shift")
    disparity = _prediction_disparity(prediction, kind)
    target = np.zeros(metric.shape, np.float64)
    target[mask] = 1.0 / metric[mask].astype(np.float64)
    if robust:
        (scale, shift), inliers = robust_fit_scale_shift(disparity, target, mask)
    else:
        (scale, shift), inliers = fit_scale_shift(disparity, target, mask), mask
    cap = float(max_depth) if max_depth is not None else 2.0 * float(metric[mask].max())
    beyond = float(np.mean(scale * disparity + shift <= 1.0 / cap))
    scale_only = scale <= 0 or beyond > BEYOND_RANGE_SHARE
    if scale_only:  # the ratio of disparities, robust to mismatches as a median is
        usable = inliers & (disparity > 0)
        if not usable.any():
            raise ConfigError("no measured pixel where the prediction is positive: nothing to fit a scale to")
        scale, shift = float(np.median(target[usable] / disparity[usable])), 0.0
    depth = aligned_depth(disparity, scale, shift, cap)
    return AlignedDepth(depth, scale, shift, points, int(inliers.sum()), scale_only=scale_only)


@dataclass
class TemporalAlignment:
    """`align_to_metric` over a sequence, with the fit smoothed in time: each frame's (scale, shift) is
    blended with the previous frame's, `momentum` of the old one (0: every frame on its own), so stereo
    noise does not make the dense depth flicker; a frame with too few valid points reuses the last fit.
    The blend is of the disparity-space line, so the result stays 1/(scale · disparity + shift)."""

    momentum: float = 0.5
    kind: str = "disparity"
    robust: bool = True
    max_depth: float | None = None
    _fit: tuple[float, float] | None = field(default=None, init=False, repr=False)
    _cap: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"momentum={self.momentum}: give a value in [0, 1)")

    def reset(self) -> None:
        """Forget the fit (a new shot, a moved camera)."""
        self._fit, self._cap = None, None

    def __call__(self, prediction: np.ndarray, metric: np.ndarray, valid: np.ndarray | None = None) -> AlignedDepth:
        """The frame's dense metric depth (see the class); raises `ConfigError` only while no frame so far
        had enough points."""
        try:
            frame = align_to_metric(prediction, metric, valid, self.kind, self.robust, self.max_depth)
        except ConfigError:
            if self._fit is None:
                raise
            points = int(_valid_metric(metric, valid).sum())
            depth = aligned_depth(_prediction_disparity(prediction, self.kind), *self._fit, self._cap or 1e3)
            return AlignedDepth(depth, *self._fit, points, 0, fitted=False)
        if self._fit is None:
            self._fit = (frame.scale, frame.shift)
        else:
            keep = self.momentum
            self._fit = (keep * self._fit[0] + (1 - keep) * frame.scale, keep * self._fit[1] + (1 - keep) * frame.shift)
        cap = self.max_depth if self.max_depth is not None else 2.0 * float(np.asarray(metric)[_valid_metric(metric, valid)].max())
        self._cap = cap if self._cap is None else max(self._cap, cap)
        depth = aligned_depth(_prediction_disparity(prediction, self.kind), *self._fit, self._cap)
        return AlignedDepth(depth, *self._fit, frame.points, frame.inliers)


def fill_holes(metric: np.ndarray, dense: np.ndarray) -> np.ndarray:
    """`metric` where it measured (finite, > 0), `dense` (an aligned map) elsewhere: stereo is more accurate
    than any alignment of a network's map where it has a match (benchmarks/metric_alignment.py), so the
    network only fills its holes."""
    metric = np.asarray(metric, np.float32)
    return np.where(np.isfinite(metric) & (metric > 0), metric, np.asarray(dense, np.float32))


# ------------------------------------------------------------------------------- sparse depth files
SPARSE_SUFFIXES = (".csv", ".npy", ".png", ".tif", ".tiff")


@dataclass(frozen=True)
class SparseDepth:
    """Metric depth at some pixels, as an H×W map in metres (0 = no point), and what was left out of the
    file with the reason (points outside the image, negative or non-finite depths)."""

    depth: np.ndarray
    skipped: list[str]

    @property
    def points(self) -> int:
        """How many pixels hold a measurement."""
        return int((self.depth > 0).sum())


def _csv_points(path: Path, size: tuple[int, int]) -> SparseDepth:
    height, width = size
    depth = np.zeros(size, np.float32)
    skipped: list[str] = []
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:  # bytes that are not text fail as a line
        for number, row in enumerate(csv.reader(handle), start=1):
            cells = [cell.strip() for cell in row]
            if not cells or not any(cells) or cells[0].startswith("#"):
                continue
            try:
                x, y, metres = (float(cell) for cell in cells[:3])
                if len(cells) < 3:
                    raise ValueError
            except ValueError:
                if number == 1:
                    continue  # a header line such as x,y,depth
                raise ConfigError(f"{path}, line {number}: expected x,y,metres (pixel column, row, depth), "
                                  f"got {','.join(cells)!r}") from None
            if not (np.isfinite(x) and np.isfinite(y)):
                skipped.append(f"line {number}: pixel ({x:g}, {y:g}) is not a position")
                continue
            column, line = int(round(x)), int(round(y))
            if not (0 <= column < width and 0 <= line < height):
                skipped.append(f"line {number}: pixel ({x:g}, {y:g}) outside the {width}×{height} image")
            elif not np.isfinite(metres) or metres <= 0:
                skipped.append(f"line {number}: depth {metres:g} m is not a positive distance")
            else:
                depth[line, column] = metres
    return SparseDepth(depth, skipped)


def _map_points(path: Path, values: np.ndarray, size: tuple[int, int]) -> SparseDepth:
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[..., 0]
    if values.ndim != 2:
        raise ConfigError(f"{path}: a sparse depth map must be one channel (H×W), got shape {values.shape}")
    if values.shape != tuple(size):
        raise ConfigError(f"{path}: the sparse depth map is {values.shape[1]}×{values.shape[0]}, the image "
                          f"{size[1]}×{size[0]}; give one of the image's size (or a CSV of pixel → metres)")
    values = values.astype(np.float32)
    bad = ~np.isfinite(values) | (values < 0)
    skipped = [f"{int(bad.sum())} pixel(s) with a negative or non-finite depth"] if bad.any() else []
    return SparseDepth(np.where(bad, 0.0, values).astype(np.float32), skipped)


def read_sparse_depth(path: str | os.PathLike, size: tuple[int, int]) -> SparseDepth:
    """Sparse metric depth for an image of `size` (height, width) from a CSV of `x,y,metres` per line (pixel
    column and row; a header line is allowed), an .npy map in metres or a 16-bit PNG/TIFF map in millimetres
    (the png16 convention: 0 = no point). Points outside the image and negative depths are skipped and listed
    in `skipped`; a file that cannot be read raises `ConfigError` naming it."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SPARSE_SUFFIXES:
        raise ConfigError(f"{path}: sparse depth must be one of {', '.join(SPARSE_SUFFIXES)}")
    if not path.is_file():
        raise ConfigError(f"{path}: no such sparse depth file")
    if suffix == ".csv":
        return _csv_points(path, size)
    if suffix == ".npy":
        try:
            values = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ConfigError(f"{path}: not a readable .npy array ({exc})") from None
        return _map_points(path, np.asarray(values, np.float64), size)
    import cv2

    values = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if values is None:
        raise ConfigError(f"{path}: not a readable image")
    if values.dtype != np.uint16:
        raise ConfigError(f"{path}: a sparse depth image must be 16-bit (millimetres), got {values.dtype}")
    return _map_points(path, values.astype(np.float64) / 1000.0, size)


__all__ = [
    "AlignedDepth", "FLAT_TOLERANCE", "MIN_POINTS", "PREDICTION_KINDS", "SPARSE_SUFFIXES", "SparseDepth",
    "TemporalAlignment", "align_to_metric", "aligned_depth", "fill_holes", "fit_scale_shift", "read_sparse_depth",
    "robust_fit_scale_shift",
]
