"""The one masked scale/shift fit (`alignment.fit_scale_shift`) that evaluation, tiling and the export
checks share, its rule for flat maps, and the depth-space agreement of two relative maps built on it."""

from __future__ import annotations

import numpy as np
import pytest

from depth_anything.alignment import fit_scale_shift
from depth_anything.eval.protocols import depth_agreement


def test_fit_recovers_scale_and_shift_over_the_mask_only():
    rng = np.random.default_rng(0)
    source = rng.uniform(0.0, 5.0, (20, 30)).astype(np.float32)
    target = 2.5 * source.astype(np.float64) - 0.75
    mask = rng.random(source.shape) > 0.4
    target[~mask] = 1e6  # outside the mask: ignored
    assert fit_scale_shift(source, target, mask) == pytest.approx((2.5, -0.75))
    assert fit_scale_shift(source[mask], target[mask]) == pytest.approx((2.5, -0.75))  # no mask: every value


def test_fit_matches_least_squares_on_noisy_maps():
    rng = np.random.default_rng(1)
    source = rng.standard_normal(500) * 3.0 + 10.0
    target = -0.4 * source + 2.0 + rng.standard_normal(500)
    expected = np.polyfit(source, target, 1)
    assert fit_scale_shift(source, target) == pytest.approx(tuple(expected), rel=1e-9)


def test_a_flat_source_is_only_shifted_onto_the_targets_mean():
    target = np.arange(12.0).reshape(3, 4)
    for value in (0.0, 3.0, -250.0):
        scale, shift = fit_scale_shift(np.full((3, 4), value), target)
        assert (scale, shift) == pytest.approx((1.0, target.mean() - value))
    # flat within float32 rounding counts as flat: no scale fitted to the noise
    wobble = np.float32(7.0) + np.float32(4e-7) * np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    assert fit_scale_shift(wobble, target)[0] == 1.0


def test_fit_refuses_no_pixel_and_mismatched_sizes():
    with pytest.raises(ValueError, match="no pixel"):
        fit_scale_shift(np.ones((2, 2)), np.ones((2, 2)), np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match="must match"):
        fit_scale_shift(np.ones(3), np.ones(4))


def test_depth_agreement_is_blind_to_scale_and_shift_and_sees_other_changes():
    reference = np.linspace(0.1, 3.0, 400).reshape(20, 20)
    same = depth_agreement(reference, 4.0 * reference + 1.5)
    assert same["abs_rel"] == pytest.approx(0.0, abs=1e-9) and same["d1"] == 1.0
    bent = depth_agreement(reference, reference**2)  # not an affine change of the disparity
    assert bent["abs_rel"] > 0.05
    with pytest.raises(ValueError, match="constant"):
        depth_agreement(np.ones((4, 4)), reference[:4, :4])


def test_depth_agreement_takes_the_reference_range_as_depths_1_to_10():
    # reference disparity 0, 0.5, 1 → 0.1, 0.55, 1.0 (depths 10, 20/11, 1); the candidate's two levels
    # are fitted to 0.1 and the mean 0.775 (depth 40/31): relative errors 0, 9/31, 9/31
    scores = depth_agreement(np.array([[0.0, 0.5, 1.0]]), np.array([[5.0, 7.0, 7.0]]))
    assert scores["abs_rel"] == pytest.approx(6 / 31, rel=1e-12) and scores["d1"] == pytest.approx(1 / 3)


# ------------------------------------------------------------------ dense metric depth from sparse data
from depth_anything.alignment import (  # noqa: E402
    MIN_POINTS,
    TemporalAlignment,
    align_to_metric,
    fill_holes,
    read_sparse_depth,
    robust_fit_scale_shift,
)
from depth_anything.errors import ConfigError  # noqa: E402


def _scene(seed: int = 3, shape: tuple[int, int] = (40, 60)) -> tuple[np.ndarray, np.ndarray]:
    """A relative prediction (disparity-like) and the metric depth it is an affine disparity of."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    disparity = 0.2 + 0.01 * x + 0.005 * y + 0.05 * rng.random(shape)
    truth = 1.0 / (0.8 * disparity + 0.05)  # metres: 1.3 to 4.5
    return disparity.astype(np.float32), truth.astype(np.float32)


def test_robust_fit_ignores_gross_outliers_that_tilt_least_squares():
    rng = np.random.default_rng(4)
    source = rng.uniform(0, 1, 400)
    target = 2.0 * source + 1.0 + rng.normal(0, 1e-3, 400)
    wrong = rng.random(400) < 0.2
    target[wrong] = rng.uniform(5, 20, wrong.sum())  # mismatched stereo: far off the line
    (scale, shift), inliers = robust_fit_scale_shift(source, target)
    assert (scale, shift) == pytest.approx((2.0, 1.0), abs=2e-3)
    assert not inliers[wrong].any() and inliers[~wrong].mean() > 0.95
    assert abs(fit_scale_shift(source, target)[0] - 2.0) > 0.5  # plain least squares is pulled away


def test_alignment_recovers_dense_metric_depth_from_a_few_points():
    disparity, truth = _scene()
    sparse = np.zeros_like(truth)
    rng = np.random.default_rng(5)
    picks = rng.choice(truth.size, 30, replace=False)
    sparse.flat[picks] = truth.flat[picks]
    aligned = align_to_metric(disparity, sparse)
    assert aligned.points == 30 and aligned.inliers == 30 and not aligned.scale_only
    assert (aligned.scale, aligned.shift) == pytest.approx((0.8, 0.05), rel=1e-5)
    np.testing.assert_allclose(aligned.depth, truth, rtol=1e-5)
    # a metric model's output (metres, off by a scale and shift in disparity) is aligned the same way
    assert align_to_metric(1.0 / disparity, sparse, kind="depth").depth == pytest.approx(truth, rel=1e-5)


def test_a_fit_that_extrapolates_wildly_falls_back_to_a_scale():
    """Measurements only on a narrow far band whose local slope is steep: the scale-and-shift line would put
    everything farther than the band past the farthest plausible depth; a scale alone is fitted instead."""
    disparity = np.linspace(0.2, 1.0, 2400).reshape(40, 60)
    truth_disparity = np.where(disparity < 0.6, 0.25 + 2.0 * (disparity - 0.5), 0.45 + 0.2 * (disparity - 0.6))
    metric = np.zeros_like(disparity)
    band = (disparity > 0.5) & (disparity < 0.55)
    metric[band] = 1.0 / truth_disparity[band]
    aligned = align_to_metric(disparity, metric)
    assert aligned.scale_only and aligned.shift == 0.0
    assert aligned.scale == pytest.approx(float(np.median(truth_disparity[band] / disparity[band])))
    cap = 2.0 * float(metric[band].max())
    assert np.mean(aligned.depth >= cap * (1 - 1e-6)) < 0.03  # the farthest sliver only
    scale, shift = fit_scale_shift(disparity, truth_disparity, band)  # what the line would have done
    assert np.mean(scale * disparity + shift <= 1.0 / cap) > 0.2


def test_alignment_refuses_too_few_points_and_another_size():
    disparity, truth = _scene()
    sparse = np.zeros_like(truth)
    sparse[0, : MIN_POINTS - 1] = 2.0
    sparse[1, :3] = -1.0  # negative: no measurement
    with pytest.raises(ConfigError, match=f"{MIN_POINTS - 1} valid metric point"):
        align_to_metric(disparity, sparse)
    with pytest.raises(ConfigError, match="40×60 but the metric depth is 20×60"):
        align_to_metric(disparity, truth[:20])
    with pytest.raises(ConfigError, match="prediction kind"):
        align_to_metric(disparity, truth, kind="metres")


def test_temporal_alignment_smooths_the_fit_and_reuses_it_without_points():
    disparity, truth = _scene()
    rng = np.random.default_rng(6)
    steady, alone = TemporalAlignment(momentum=0.8), TemporalAlignment(momentum=0.0)
    smoothed, per_frame = [], []
    for _ in range(30):  # each frame's measurements off by a random few per cent (stereo calibration noise)
        measured = truth * rng.uniform(0.95, 1.05)
        smoothed.append(steady(disparity, measured).scale)
        per_frame.append(alone(disparity, measured).scale)
    assert np.std(smoothed[5:]) < 0.5 * np.std(per_frame[5:])
    empty = np.zeros_like(truth)
    reused = steady(disparity, empty)
    assert not reused.fitted and reused.points == 0 and reused.scale == smoothed[-1]
    with pytest.raises(ConfigError, match="valid metric point"):
        TemporalAlignment()(disparity, empty)  # nothing to reuse yet
    with pytest.raises(ConfigError, match="momentum"):
        TemporalAlignment(momentum=1.0)


def test_sparse_csv_skips_and_reports_points_outside_and_negative(tmp_path):
    path = tmp_path / "lidar.csv"
    path.write_text("x,y,depth\n3,2,1.5\n59.4,39,2.0\n60,5,3.0\n-1,0,3.0\n4,4,-2\n5,5,nan\n# comment\n\n")
    sparse = read_sparse_depth(path, (40, 60))
    assert sparse.points == 2 and sparse.depth[2, 3] == 1.5 and sparse.depth[39, 59] == 2.0
    assert [line.split(":")[0] for line in sparse.skipped] == ["line 4", "line 5", "line 6", "line 7"]
    assert "outside the 60×40 image" in sparse.skipped[0] and "-2 m is not a positive" in sparse.skipped[2]
    path.write_text("3,2,1.5\n3,two,1\n")
    with pytest.raises(ConfigError, match=r"lidar.csv, line 2: expected x,y,metres"):
        read_sparse_depth(path, (40, 60))
    path.write_text("3,2,1.5\nnan,2,1.5\n3,inf,1.5\n")  # a position that is no number is skipped, not a crash
    sparse = read_sparse_depth(path, (40, 60))
    assert sparse.points == 1 and [line.split(":")[0] for line in sparse.skipped] == ["line 2", "line 3"]
    path.write_bytes(b"3,2,1.5\n\xff\xfe,\x00\n")
    with pytest.raises(ConfigError, match=r"lidar.csv, line 2: expected x,y,metres"):
        read_sparse_depth(path, (40, 60))


def test_sparse_maps_in_metres_and_millimetres(tmp_path):
    import cv2

    values = np.zeros((40, 60), np.float32)
    values[5, 6], values[7, 8], values[9, 9] = 2.5, -1.0, np.nan
    np.save(tmp_path / "sparse.npy", values)
    sparse = read_sparse_depth(tmp_path / "sparse.npy", (40, 60))
    assert sparse.points == 1 and sparse.depth[5, 6] == 2.5
    assert sparse.skipped == ["2 pixel(s) with a negative or non-finite depth"]
    millimetres = np.zeros((40, 60), np.uint16)
    millimetres[1, 2] = 1234
    cv2.imwrite(str(tmp_path / "sparse.png"), millimetres)
    assert read_sparse_depth(tmp_path / "sparse.png", (40, 60)).depth[1, 2] == pytest.approx(1.234)
    with pytest.raises(ConfigError, match="sparse depth map is 60×40, the image 30×20"):
        read_sparse_depth(tmp_path / "sparse.png", (20, 30))
    cv2.imwrite(str(tmp_path / "eight.png"), millimetres.astype(np.uint8))
    with pytest.raises(ConfigError, match="must be 16-bit"):
        read_sparse_depth(tmp_path / "eight.png", (40, 60))
    with pytest.raises(ConfigError, match="no such sparse depth file"):
        read_sparse_depth(tmp_path / "none.csv", (40, 60))


def test_fill_holes_keeps_measurements_and_fills_the_rest():
    metric = np.array([[2.0, 0.0, -1.0], [np.nan, 3.0, np.inf]], np.float32)
    dense = np.full((2, 3), 9.0, np.float32)
    np.testing.assert_array_equal(fill_holes(metric, dense), [[2.0, 9.0, 9.0], [9.0, 3.0, 9.0]])
