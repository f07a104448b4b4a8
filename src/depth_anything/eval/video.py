"""Video-depth evaluation with Video Depth Anything's protocol: one alignment per sequence, and TAE.

Protocol (VDA's `benchmark/eval/eval.py` and `eval_tae.py`, read to learn the definitions):

1. The model's per-frame output is taken as disparity (metric depth is inverted first). ONE scale and
   shift per sequence is fitted by least squares between the prediction (clipped to >= 1e-3) and the
   ground-truth disparity over every valid pixel of every frame (valid: 1e-3 < depth < max depth).
2. The aligned disparity is clipped to >= 1e-3, inverted to depth and clipped to [1e-3, max depth].
3. AbsRel and δ1 are computed per frame over its valid pixels and averaged over the frames.
4. TAE: for each pair of consecutive frames, the aligned depth of frame i is lifted to 3-D with the
   intrinsics, moved into frame i+1 with the ground-truth relative pose (inv(P_{i+1}) · P_i, camera to
   world poses), projected, rounded to the nearest pixel and compared with frame i+1's aligned depth
   (mean |d_{i+1} − d_proj| / d_{i+1} over pixels where both are positive); the same from i+1 to i;
   TAE is the mean over both directions and all pairs, × 100.

One deliberate difference: where several points land on one pixel, the official code keeps whichever
scattered write happens to win; here the nearest point wins (a z-buffer), which is deterministic and
what a camera would see.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ..alignment import fit_scale_shift
from ..data.datasets import DepthSequence, SequenceReader, open_sequences
from ..errors import ConfigError
from .metrics import compute_metrics

MIN_DISPARITY = 1e-3  # VDA clips predictions and aligned disparity here before inverting
MIN_DEPTH = 1e-3


@dataclass(frozen=True)
class VideoBenchmark:
    """A video benchmark: the sequence layout it reads, its depth cap (metres) and frames per sequence."""

    layout: str
    max_depth: float
    max_frames: int | None = None
    split: str | None = None


# VDA's settings (benchmark/eval/eval.py): depth caps and the number of frames scored per sequence.
VIDEO_BENCHMARKS = MappingProxyType({
    "video-synthetic": VideoBenchmark("synthetic-sequences", 80.0, None, "val"),
    "video-sintel": VideoBenchmark("vda-sintel", 70.0, 100),
    "video-kitti": VideoBenchmark("vda-kitti", 80.0, 110),
    "video-bonn": VideoBenchmark("vda-bonn", 10.0, 110),
    "video-scannet": VideoBenchmark("vda-scannet", 10.0, 90),
    "video-nyuv2": VideoBenchmark("vda-nyuv2", 10.0, 500),
})


def _check_stack(name: str, array: np.ndarray, shape: tuple[int, ...]) -> None:
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape}")


def gt_valid(depth: np.ndarray, max_depth: float, valid: np.ndarray | None = None) -> np.ndarray:
    """VDA's evaluated pixels: 1e-3 < depth < max_depth (and the dataset's own validity, if given)."""
    keep = np.isfinite(depth) & (depth > MIN_DEPTH) & (depth < max_depth)
    return keep if valid is None else keep & valid


def align_sequence(
    pred_disparity: np.ndarray, gt_depth: np.ndarray, valid: np.ndarray, max_depth: float
) -> tuple[np.ndarray, float, float]:
    """Aligned depth T×H×W after one least-squares scale and shift in disparity for the whole sequence."""
    pred = np.clip(np.asarray(pred_disparity, np.float64), MIN_DISPARITY, None)
    _check_stack("prediction", pred, gt_depth.shape)
    if not valid.any():
        raise ValueError("no valid ground-truth pixel in the sequence")
    gt_disparity = np.zeros_like(gt_depth, dtype=np.float64)
    gt_disparity[valid] = 1.0 / (gt_depth[valid].astype(np.float64) + 1e-8)
    scale, shift = fit_scale_shift(pred, gt_disparity, valid)
    aligned = np.clip(scale * pred + shift, MIN_DISPARITY, None)
    return np.clip(1.0 / aligned, MIN_DEPTH, max_depth), scale, shift


def sequence_metrics(pred_depth: np.ndarray, gt_depth: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    """AbsRel and δ1 per frame over its valid pixels, averaged over frames with any valid pixel."""
    rows = [compute_metrics(pred_depth[t], gt_depth[t], valid[t]) for t in range(len(gt_depth)) if valid[t].any()]
    if not rows:
        raise ValueError("no frame with valid ground truth")
    return {"abs_rel": float(np.mean([r["abs_rel"] for r in rows])), "d1": float(np.mean([r["d1"] for r in rows]))}


def reproject_depth(depth: np.ndarray, rotation: np.ndarray, translation: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Depth of frame A seen from camera B: pixels lifted with `intrinsics`, moved by B ← A (`rotation`,
    `translation`), projected to the nearest pixel; nearest point per pixel, 0 where nothing lands."""
    height, width = depth.shape
    fx, fy, cx, cy = intrinsics[0, 0], intrinsics[1, 1], intrinsics[0, 2], intrinsics[1, 2]
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    z = depth.astype(np.float64)
    points = np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], axis=-1).reshape(-1, 3)
    moved = points @ np.asarray(rotation, np.float64).T + np.asarray(translation, np.float64)
    zb = moved[:, 2]
    ahead = zb > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        col = np.round(moved[:, 0] * fx / zb + cx)
        row = np.round(moved[:, 1] * fy / zb + cy)
    inside = ahead & (col >= 0) & (col < width) & (row >= 0) & (row < height)
    flat = (row[inside] * width + col[inside]).astype(np.int64)
    values = zb[inside]
    out = np.zeros(height * width, np.float64)
    if flat.size:
        order = np.lexsort((values, flat))  # by pixel, nearest first
        first = np.unique(flat[order], return_index=True)[1]
        out[flat[order][first]] = values[order][first]
    return out.reshape(height, width)


def _pair_error(depth_a: np.ndarray, depth_b: np.ndarray, a_to_b: np.ndarray, intrinsics: np.ndarray,
                mask_b: np.ndarray | None) -> float | None:
    projected = reproject_depth(depth_a, a_to_b[:3, :3], a_to_b[:3, 3], intrinsics)
    keep = (projected > 0) & (depth_b > 0)
    if mask_b is not None:
        keep &= mask_b
    if not keep.any():
        return None
    return float(np.mean(np.abs(depth_b[keep] - projected[keep]) / depth_b[keep]))


def temporal_alignment_error(
    depth: np.ndarray, intrinsics: np.ndarray, camera_to_world: np.ndarray, masks: np.ndarray | None = None
) -> float:
    """TAE (× 100) of a depth sequence T×H×W with per-frame intrinsics T×3×3 and camera-to-world poses T×4×4.

    A pair with no pixel to compare counts as 0, as in the official code."""
    depth = np.asarray(depth, np.float64)
    frames = len(depth)
    if frames < 2:
        raise ValueError(f"TAE needs at least 2 frames, got {frames}")
    _check_stack("intrinsics", np.asarray(intrinsics), (frames, 3, 3))
    _check_stack("camera_to_world", np.asarray(camera_to_world), (frames, 4, 4))
    total = 0.0
    for i in range(frames - 1):
        forward = np.linalg.inv(camera_to_world[i + 1]) @ camera_to_world[i]  # camera i → camera i+1
        k = np.asarray(intrinsics[i], np.float64)
        e1 = _pair_error(depth[i], depth[i + 1], forward, k, None if masks is None else masks[i + 1])
        e2 = _pair_error(depth[i + 1], depth[i], np.linalg.inv(forward), k, None if masks is None else masks[i])
        total += (e1 or 0.0) + (e2 or 0.0)
    return 100.0 * total / (2 * (frames - 1))


# ------------------------------------------------------------------------------------ the loop
SequencePredictor = Callable[[np.ndarray], np.ndarray]  # images T×H×W×3 uint8 → T×H×W (frame size)


def per_frame_predictor(predict: Callable[[list[np.ndarray]], list[np.ndarray]], batch_size: int = 1) -> SequencePredictor:
    """A sequence predictor from a per-image `predict` (the `Predictor`'s), frame by frame."""

    def run(images: np.ndarray) -> np.ndarray:
        out: list[np.ndarray] = []
        for start in range(0, len(images), batch_size):
            out.extend(predict(list(images[start:start + batch_size])))
        return np.stack(out).astype(np.float32)

    return run


def video_model_predictor(model: Any, input_size: int = 518) -> SequencePredictor:
    """A sequence predictor from a Video Depth Anything model: offline windows over the whole sequence."""
    from ..inference.video_windows import iter_video_depth

    def run(images: np.ndarray) -> np.ndarray:
        return np.stack(list(iter_video_depth(model, list(images), input_size))).astype(np.float32)

    return run


@dataclass
class VideoReport:
    """Per-sequence AbsRel, δ1 and TAE, and their means over sequences (NaN TAE without poses)."""

    benchmark: str
    model: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    excluded: list[dict[str, str]] = field(default_factory=list)

    def means(self) -> dict[str, float]:
        """Averages over the scored sequences (TAE over those with poses)."""
        out = {}
        for key in ("abs_rel", "d1", "tae"):
            values = [r[key] for r in self.rows if not math.isnan(r[key])]
            out[key] = float(np.mean(values)) if values else math.nan
        return out

    def markdown(self) -> str:
        """The one-line table VDA's papers print: AbsRel ↓, δ1 ↑, TAE ↓."""
        m = self.means()
        frames = sum(r["frames"] for r in self.rows)
        return ("| Model | Benchmark | Sequences | Frames | AbsRel ↓ | δ1 ↑ | TAE ↓ |\n|---|---|---:|---:|---:|---:|---:|\n"
                f"| {self.model} | {self.benchmark} | {len(self.rows)} | {frames} | {m['abs_rel']:.4f} | {m['d1']:.4f} "
                f"| {m['tae']:.3f} |")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {"benchmark": self.benchmark, "model": self.model, "means": self.means(), "sequences": self.rows,
                "excluded": self.excluded}


def _to_size(pred: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Resize each predicted frame to the ground truth's size (bilinear, as VDA's evaluation does)."""
    if pred.ndim != 3 or pred.shape[1:] == tuple(size):
        return pred
    import cv2

    return np.stack([cv2.resize(frame, (int(size[1]), int(size[0])), interpolation=cv2.INTER_LINEAR) for frame in pred])


def score_sequence(
    sequence: DepthSequence, prediction: np.ndarray, max_depth: float, pred_kind: str = "disparity",
    max_frames: int | None = None,
) -> dict[str, Any]:
    """AbsRel, δ1 and TAE of one sequence's raw prediction (T×H×W, disparity or metric depth)."""
    frames = len(sequence) if max_frames is None else min(len(sequence), max_frames)
    gt = sequence.depth[:frames].astype(np.float64)
    pred = _to_size(np.asarray(prediction, np.float64)[:frames], gt.shape[1:])
    _check_stack(f"prediction for {sequence.name}", pred, gt.shape)
    if pred_kind == "depth":
        pred = 1.0 / np.clip(pred, MIN_DEPTH, None)
    elif pred_kind != "disparity":
        raise ConfigError(f"prediction kind must be disparity or depth, got {pred_kind!r}")
    valid = gt_valid(gt, max_depth, sequence.valid[:frames])
    aligned, scale, shift = align_sequence(pred, gt, valid, max_depth)
    row: dict[str, Any] = {"name": sequence.name, "frames": frames, **sequence_metrics(aligned, gt, valid),
                           "scale": scale, "shift": shift, "tae": math.nan}
    if sequence.intrinsics is not None and sequence.camera_to_world is not None and frames >= 2:
        # the target frame's valid ground truth masks the comparison (VDA's `mask` option): sky and
        # pixels beyond the cap have no depth to be consistent about
        row["tae"] = temporal_alignment_error(aligned, sequence.intrinsics[:frames], sequence.camera_to_world[:frames],
                                              valid)
    return row


def evaluate_video(
    benchmark: str, root: str, predict: SequencePredictor, model_name: str = "model", pred_kind: str = "disparity",
    split: str | None = None, limit: int | None = None, max_depth: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VideoReport:
    """Score `predict` on every sequence of a video benchmark (see `VIDEO_BENCHMARKS`)."""
    if benchmark not in VIDEO_BENCHMARKS:
        raise ConfigError(f"unknown video benchmark {benchmark!r}; choose one of {', '.join(VIDEO_BENCHMARKS)}")
    spec = VIDEO_BENCHMARKS[benchmark]
    reader: SequenceReader = open_sequences(spec.layout, root, split=split or spec.split)
    total = len(reader) if limit is None else min(limit, len(reader))
    report = VideoReport(benchmark, model_name)
    for done, index in enumerate(range(total), start=1):
        sequence = reader[index]
        images = sequence.images if spec.max_frames is None else sequence.images[:spec.max_frames]
        try:
            report.rows.append(score_sequence(sequence, predict(images), max_depth or spec.max_depth,
                                              pred_kind, spec.max_frames))
        except ValueError as exc:
            report.excluded.append({"name": sequence.name, "reason": str(exc)})
        if progress is not None:
            progress(done, total)
    return report


def stabilized(predict: SequencePredictor) -> SequencePredictor:
    """The same predictor with `FlowStabilizer` run over its frames in order (per-frame relative models)."""
    from ..inference.stabilize import FlowStabilizer

    def run(images: np.ndarray) -> np.ndarray:
        stabilizer = FlowStabilizer()
        raw = predict(images)
        return np.stack([stabilizer(image, frame) for image, frame in zip(images, raw, strict=True)])

    return run
