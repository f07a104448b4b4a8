"""Steadier video from per-frame relative models: each frame's disparity is mapped by one scale and shift
onto the output of the frame before, fitted only where optical flow finds the same surface in both.

A per-frame model (DA V2, the built-in one) predicts relative depth up to its own affine ambiguity in every
frame, so an unchanged scene still flickers in brightness from frame to frame. `FlowStabilizer` removes that
part: OpenCV's DIS optical flow (at a reduced width, `flow_width`) finds where each pixel of the new frame
was in the previous one; the previous output is warped along it, and pixels whose warped previous frame
matches the new frame's brightness (`tolerance` grey levels: not occluded, not badly tracked, inside the
picture) take part in a least-squares fit of scale and shift, refitted after dropping residuals beyond
`trim` robust standard deviations. A frame with too few such pixels (a cut, a flash) is matched to the
previous output by its median and spread instead. The first frame, and the first after `reset()`, is kept
as it is: the video keeps the first frame's scale.

Numpy and OpenCV only (no torch), so any runtime's output can go through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class StabilizerStep:
    """What the stabiliser did to one frame: the scale and shift applied and the share of pixels it trusted."""

    scale: float
    shift: float
    tracked: float  # fraction of the flow-resolution pixels used in the fit
    fallback: bool  # too few tracked pixels: matched by median and spread instead


class FlowStabilizer:
    """Aligns each frame's relative depth (disparity) to the previous output by a robust scale and shift
    on pixels that optical flow tracks; call it on every frame in order, `reset()` at shot cuts."""

    def __init__(
        self, flow_width: int = 256, tolerance: float = 12.0, trim: float = 2.5, iterations: int = 3,
        min_tracked: float = 0.25,
    ) -> None:
        if flow_width < 16:
            raise ValueError(f"flow_width must be at least 16 pixels, got {flow_width}")
        self.flow_width = flow_width
        self.tolerance = tolerance
        self.trim = trim
        self.iterations = iterations
        self.min_tracked = min_tracked
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame: the next one starts a new shot and keeps its own scale."""
        self._gray: np.ndarray | None = None
        self._output: np.ndarray | None = None
        self.last: StabilizerStep | None = None

    def _small(self, image: np.ndarray, disparity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grey frame and disparity at the flow's resolution."""
        height, width = disparity.shape
        if image.shape[:2] != (height, width):
            raise ValueError(f"frame is {image.shape[1]}×{image.shape[0]} but its depth {width}×{height}")
        small_width = min(self.flow_width, width)
        size = (small_width, max(8, round(height * small_width / width)))
        gray = image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        gray = cv2.resize(gray.astype(np.uint8, copy=False), size, interpolation=cv2.INTER_AREA)
        return gray, cv2.resize(disparity, size, interpolation=cv2.INTER_AREA)

    def _fit(self, values: np.ndarray, target: np.ndarray) -> tuple[float, float] | None:
        """Scale and shift with values·scale + shift ≈ target, refitted without outliers; None if degenerate."""
        keep = np.ones(values.shape, bool)
        scale = shift = 0.0
        for _ in range(self.iterations):
            x, y = values[keep].astype(np.float64), target[keep].astype(np.float64)
            if x.size < 16 or np.ptp(x) <= 0:
                return None
            scale, shift = np.polyfit(x, y, 1)
            residual = np.abs(values * scale + shift - target)
            spread = 1.4826 * np.median(residual[keep])
            if spread <= 0:
                break
            keep = residual <= self.trim * spread
        return float(scale), float(shift)

    def __call__(self, image: np.ndarray, disparity: np.ndarray) -> np.ndarray:
        """The stabilised disparity of the next frame (float32, the frame's size); `image` is its RGB frame."""
        disparity = np.asarray(disparity, dtype=np.float32)
        gray, small = self._small(image, disparity)
        if self._gray is None or self._output is None or self._gray.shape != gray.shape:
            self._gray, self._output = gray, small
            self.last = StabilizerStep(1.0, 0.0, 1.0, False)
            return disparity.copy()
        flow = self._flow.calc(gray, self._gray, None)  # where each new pixel was in the previous frame
        height, width = gray.shape
        grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
        warped = cv2.remap(self._output, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=np.nan)
        warped_gray = cv2.remap(self._gray.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan)
        tracked = (np.abs(warped_gray - gray) <= self.tolerance) & np.isfinite(warped) & np.isfinite(small)
        fraction = float(tracked.mean())
        fit = self._fit(small[tracked], warped[tracked]) if fraction >= self.min_tracked else None
        fallback = fit is None or fit[0] <= 0
        if fallback:
            fit = _match_spread(small, self._output)
        scale, shift = fit  # type: ignore[misc]
        self._gray, self._output = gray, small * np.float32(scale) + np.float32(shift)
        self.last = StabilizerStep(scale, shift, fraction, fallback)
        return disparity * np.float32(scale) + np.float32(shift)


def _match_spread(values: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Scale and shift giving `values` the median and median absolute deviation of `target`."""
    values, target = values[np.isfinite(values)], target[np.isfinite(target)]
    if values.size == 0 or target.size == 0:
        return 1.0, 0.0
    v_mid, t_mid = float(np.median(values)), float(np.median(target))
    v_mad, t_mad = float(np.median(np.abs(values - v_mid))), float(np.median(np.abs(target - t_mid)))
    scale = t_mad / v_mad if v_mad > 0 and t_mad > 0 else 1.0
    return scale, t_mid - scale * v_mid


__all__ = ["FlowStabilizer", "StabilizerStep"]
