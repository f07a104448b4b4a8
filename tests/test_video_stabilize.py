"""The flow stabiliser: it removes an injected per-frame scale and shift flicker from a moving sequence
whose true disparity is known, keeps the first frame's scale, and starts over after `reset()`."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from depth_anything.inference.stabilize import FlowStabilizer


def _sequence(count=16, height=72, width=96, speed=2):
    """A textured scene panning right by `speed` pixels a frame, and its true disparity (a slanted plane
    with a near blob), both cut from one larger canvas so every frame shows the same surfaces."""
    rng = np.random.default_rng(3)
    canvas_width = width + speed * count
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (height, canvas_width)).astype(np.float32), (0, 0), 1.5)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    yy, xx = np.mgrid[0:height, 0:canvas_width].astype(np.float32)
    disparity = 1.0 + yy / height + 2.0 * np.exp(-((xx - canvas_width / 2) ** 2 + (yy - height / 2) ** 2) / 300.0)
    for i in range(count):
        crop = slice(speed * i, speed * i + width)
        yield np.repeat(texture[:, crop, None], 3, axis=2), disparity[:, crop].astype(np.float32)


def _scales(outputs, truths):
    """Per-frame least-squares scale and shift of each output against the true disparity."""
    return np.array([np.polyfit(t.ravel(), o.ravel(), 1) for o, t in zip(outputs, truths, strict=True)])


def _flicker(outputs, truths):
    """Relative spread of the per-frame scale and shift: 0 for a perfectly steady video."""
    fits = _scales(outputs, truths)
    return float(fits[:, 0].std() / abs(fits[:, 0].mean())), float(fits[:, 1].std() / abs(fits[:, 0].mean()))


def test_it_removes_an_injected_scale_and_shift_flicker():
    rng = np.random.default_rng(0)
    frames, truths = zip(*_sequence(), strict=True)
    scales, shifts = rng.uniform(0.7, 1.3, len(frames)), rng.uniform(-0.5, 0.5, len(frames))
    flickering = [s * t + b for s, b, t in zip(scales, shifts, truths, strict=True)]
    stabilizer = FlowStabilizer()
    steady = [stabilizer(f, d) for f, d in zip(frames, flickering, strict=True)]
    before, after = _flicker(flickering, truths), _flicker(steady, truths)
    assert before[0] > 0.1 and before[1] > 0.1  # the injected flicker is there
    assert after[0] < 0.02 and after[1] < 0.02, (before, after)  # and gone
    np.testing.assert_allclose(steady[0], flickering[0])  # the first frame keeps its scale
    np.testing.assert_allclose(_scales(steady, truths)[:, 0], scales[0], rtol=0.03)
    assert stabilizer.last is not None and not stabilizer.last.fallback and stabilizer.last.tracked > 0.5


def test_reset_starts_a_new_shot_and_a_cut_falls_back_to_matching_the_spread():
    frames, truths = zip(*_sequence(count=3), strict=True)
    stabilizer = FlowStabilizer()
    stabilizer(frames[0], truths[0])
    other = np.full_like(frames[1], 255) - frames[1][:, ::-1]  # another scene: nothing tracks
    out = stabilizer(other, 5.0 * truths[1] + 3.0)
    assert stabilizer.last.fallback
    assert abs(np.median(out) - np.median(truths[0])) < 0.05  # brought to the previous output's level
    stabilizer.reset()
    np.testing.assert_allclose(stabilizer(other, 5.0 * truths[1] + 3.0), 5.0 * truths[1] + 3.0)


def test_a_depth_of_another_size_than_its_frame_is_refused():
    with pytest.raises(ValueError, match="frame is 96×72 but its depth 48×36"):
        FlowStabilizer()(np.zeros((72, 96, 3), np.uint8), np.zeros((36, 48), np.float32))
