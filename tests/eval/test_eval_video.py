"""The video protocol: one scale and shift per sequence, AbsRel/δ1, and TAE on rendered camera paths with known answers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from depth_anything.data.datasets import DepthSequence
from depth_anything.data.synthetic.render import render
from depth_anything.data.synthetic.scene import Camera, Light, Material, Scene, plane
from depth_anything.data.synthetic.sequence import camera_path
from depth_anything.eval.video import (
    align_sequence,
    reproject_depth,
    score_sequence,
    temporal_alignment_error,
)

FRAMES = 6


def _plane_sequence(motion: str, amount: float) -> DepthSequence:
    """A camera over a ground plane facing a wall: smooth exact depth everywhere, rendered along `motion`."""
    material = Material("checker", scale=0.5)
    scene = Scene(Camera.from_angles(48, 36, 60.0, [0.0, 0.0, 2.0], yaw_deg=0.0, pitch_deg=-20.0),
                  [plane([0, 0, 0], [0, 0, 1], material), plane([0, 6, 0], [0, -1, 0], material)],
                  [Light([1.0, 1.0, 1.0], direction=[0.3, -0.5, 1.0])], np.full(3, 0.2, np.float32))
    cameras = camera_path(scene.camera, motion, FRAMES, amount, 4.0)
    renders = [render(dataclasses.replace(scene, camera=c)) for c in cameras]
    assert all(r.valid.all() for r in renders)
    return DepthSequence(motion, np.stack([r.image for r in renders]), np.stack([r.depth for r in renders]),
                         np.stack([r.valid for r in renders]), np.stack([c.intrinsics.matrix for c in cameras]),
                         np.stack([c.camera_to_world for c in cameras]))


@pytest.fixture(scope="module")
def pan() -> DepthSequence:
    return _plane_sequence("pan", np.radians(12.0))


@pytest.fixture(scope="module")
def dolly() -> DepthSequence:
    return _plane_sequence("dolly", 1.0)


@pytest.fixture(scope="module")
def orbit() -> DepthSequence:
    return _plane_sequence("orbit", np.radians(10.0))


def test_exact_depth_gives_near_zero_tae(pan: DepthSequence, dolly: DepthSequence, orbit: DepthSequence) -> None:
    for sequence in (pan, dolly, orbit):
        row = score_sequence(sequence, 1.0 / sequence.depth, max_depth=100.0)
        assert row["abs_rel"] < 1e-6 and row["d1"] == 1.0
        assert 0.0 <= row["tae"] < 1.0, sequence.name


def test_scale_flicker_gives_the_predicted_tae(pan: DepthSequence) -> None:
    """Under a pure rotation, depth scaled by 1/c_t reprojects onto depth scaled by 1/c_t, so each pair scores
    |1 − c_{i+1}/c_i| one way and |1 − c_i/c_{i+1}| the other."""
    flicker = np.array([1.1 if t % 2 == 0 else 0.9 for t in range(FRAMES)])[:, None, None]
    expected = 100 * (abs(1 - 0.9 / 1.1) + abs(1 - 1.1 / 0.9)) / 2
    tae = temporal_alignment_error(pan.depth / flicker, pan.intrinsics, pan.camera_to_world)
    assert tae == pytest.approx(expected, abs=0.5)
    # through the protocol the one fitted shift bends the flicker a little, but it stays as large
    assert score_sequence(pan, flicker / pan.depth, max_depth=100.0)["tae"] > 15.0
    steady = score_sequence(pan, 1.05 / pan.depth, max_depth=100.0)
    assert steady["tae"] < 1.0  # a constant scale is removed by the one alignment


def test_translation_matters(dolly: DepthSequence) -> None:
    """Poses in the wrong order (each frame reprojected with the inverse motion) must not look consistent."""
    right = temporal_alignment_error(dolly.depth, dolly.intrinsics, dolly.camera_to_world)
    wrong = temporal_alignment_error(dolly.depth, dolly.intrinsics, dolly.camera_to_world[::-1].copy())
    assert right < 1.0 and wrong > 3 * right


def test_reprojection_keeps_the_nearest_point() -> None:
    """Two points landing on one pixel: the nearer one is what the target camera sees (a z-buffer)."""
    depth = np.array([[2.0, 4.0, 4.0]])
    k = np.eye(3)  # f = 1, principal point at pixel (0, 0)
    # moved 1.6 m along x: (0,0,2) → column 0.8 and (4,0,4) → column 1.4 both round to column 1
    projected = reproject_depth(depth, np.eye(3), np.array([1.6, 0.0, 0.0]), k)
    assert projected[0, 1] == 2.0
    assert projected[0, 0] == 0.0 and projected[0, 2] == 4.0


def test_one_scale_and_shift_per_sequence(pan: DepthSequence) -> None:
    """An affine disparity is undone exactly; per-frame scales are not (they would be by per-frame fits)."""
    aligned, scale, shift = align_sequence(3.0 / pan.depth + 0.2, pan.depth, pan.valid, 100.0)
    np.testing.assert_allclose(aligned, pan.depth, rtol=1e-6)
    assert scale == pytest.approx(1 / 3) and shift == pytest.approx(-0.2 / 3)
    per_frame = np.linspace(1.0, 2.0, FRAMES)[:, None, None] / pan.depth
    assert score_sequence(pan, per_frame, max_depth=100.0)["abs_rel"] > 0.05


def test_metric_depth_is_inverted_before_alignment(pan: DepthSequence) -> None:
    row = score_sequence(pan, pan.depth * 2.0, max_depth=100.0, pred_kind="depth")
    assert row["abs_rel"] < 1e-6 and row["tae"] < 1.0


def test_prediction_shape_is_checked(pan: DepthSequence) -> None:
    with pytest.raises(ValueError, match="shape"):
        score_sequence(pan, np.ones((FRAMES - 1, 36, 48)), max_depth=100.0)
