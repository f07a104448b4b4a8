"""Alignment, crops, caps and bad-input handling of the evaluation protocols."""

from __future__ import annotations

import numpy as np
import pytest

from depth_anything.errors import ConfigError
from depth_anything.eval.benchmarks import get_benchmark, make_protocol
from depth_anything.eval.protocols import (
    CROPS,
    BadSample,
    align_disparity_affine,
    crop_mask,
    evaluation_mask,
    score_prediction,
    to_depth,
)


def gt_ramp(h: int = 20, w: int = 30, lo: float = 1.0, hi: float = 9.0) -> np.ndarray:
    return np.linspace(lo, hi, h * w).reshape(h, w)


def test_affine_alignment_recovers_scale_and_shift() -> None:
    gt = gt_ramp()
    disparity = (1 / gt - 0.05) / 0.25  # so that 0.25·x + 0.05 = 1/gt
    scale, shift = align_disparity_affine(disparity, gt, np.ones_like(gt, bool))
    assert scale == pytest.approx(0.25) and shift == pytest.approx(0.05)


def test_relative_protocol_scores_affine_disparity_as_perfect() -> None:
    gt = gt_ramp()
    protocol = make_protocol("nyu", "relative", crop="none")
    metrics = score_prediction(3.0 / gt + 0.7, gt, gt > 0, protocol, "disparity")
    assert metrics["abs_rel"] == pytest.approx(0.0, abs=1e-9) and metrics["d1"] == 1.0
    # a metric model under the relative protocol: its depth is turned into disparity first
    metrics = score_prediction(2.0 * gt, gt, None, protocol, "depth")
    assert metrics["abs_rel"] == pytest.approx(0.0, abs=1e-9)


def test_relative_protocol_clips_to_depth_range() -> None:
    gt = np.array([[1.0, 2.0], [4.0, 8.0]])
    protocol = make_protocol("nyu", "relative", crop="none", max_depth=5.0)
    # valid pixels are those with gt < 5: 1, 2, 4; the aligned prediction of gt=8 is clipped, not scored
    metrics = score_prediction(1 / gt, gt, None, protocol)
    assert metrics["abs_rel"] == pytest.approx(0.0, abs=1e-9)
    # outside the scored pixels the alignment (exactly s=1, t=0 here) can go negative: clipped to the cap
    gt = np.array([[1.0, 1.0], [2.0, 8.0]])
    pred = np.array([[1.0, 1.0], [0.5, -1.0]])
    mask = evaluation_mask(gt, None, protocol)
    assert mask.tolist() == [[True, True], [True, False]]
    depth = to_depth(pred, gt, mask, protocol, "disparity")
    np.testing.assert_allclose(depth, [[1.0, 1.0], [2.0, 5.0]])


def test_metric_protocol_none_and_median() -> None:
    gt = gt_ramp()
    none = make_protocol("kitti", "metric", crop="none")
    assert none.alignment == "none" and none.max_depth == 80.0
    assert score_prediction(2 * gt, gt, None, none, "depth")["abs_rel"] == pytest.approx(1.0)
    median = make_protocol("kitti", "metric", alignment="median", crop="none")
    assert score_prediction(2 * gt, gt, None, median, "depth")["abs_rel"] == pytest.approx(0.0, abs=1e-12)
    # predictions beyond the cap are clipped to it: 200 m → 80 m against gt 40 m
    gt40 = np.full((4, 4), 40.0)
    assert score_prediction(np.full((4, 4), 200.0), gt40, None, none, "depth")["abs_rel"] == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="metric depth"):
        score_prediction(1 / gt, gt, None, none, "disparity")


def test_standard_crops() -> None:
    nyu = crop_mask((480, 640), "nyu")
    rows, cols = np.nonzero(nyu)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (45, 471, 41, 601)
    garg = crop_mask((375, 1242), "garg")
    rows, cols = np.nonzero(garg)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (153, 371, 44, 1197)
    eigen = crop_mask((375, 1242), "eigen")
    assert np.nonzero(eigen)[0].min() == 124
    assert crop_mask((3, 4), None).all()
    assert make_protocol("kitti").crop == "garg" and make_protocol("nyu").crop == "nyu"
    assert make_protocol("kitti", crop="eigen").crop == "eigen"


def test_crop_limits_the_scored_pixels() -> None:
    gt = np.full((480, 640), 3.0)
    pred = np.full((480, 640), 3.0)
    pred[:40] = 9.0  # wrong only in the white border that the NYU crop removes
    protocol = make_protocol("nyu", "metric")
    assert score_prediction(pred, gt, None, protocol, "depth")["abs_rel"] == 0.0
    assert score_prediction(pred, gt, None, make_protocol("nyu", "metric", crop="none"), "depth")["abs_rel"] > 0


@pytest.mark.parametrize(
    ("pred", "gt", "valid", "message"),
    [
        (np.ones((4, 5)), np.ones((4, 4)), None, "prediction size"),
        (np.full((4, 4), np.nan), np.ones((4, 4)), None, "prediction has 16 NaN/inf"),
        (np.ones((4, 4)), np.full((4, 4), np.inf), np.ones((4, 4), bool), "ground truth has 16 NaN/inf"),
        (np.ones((4, 4)), np.zeros((4, 4)), np.zeros((4, 4), bool), "empty valid mask"),
        (np.ones((4, 4)), np.full((4, 4), 50.0), None, "empty valid mask"),  # all beyond NYU's 10 m
        (np.ones((4, 4)), None, None, "no ground truth"),
    ],
)
def test_bad_samples_raise_with_reason(pred, gt, valid, message) -> None:
    with pytest.raises(BadSample, match=message):
        score_prediction(pred, gt, valid, make_protocol("nyu", "relative", crop="none"))


def test_protocol_validation_names_the_key() -> None:
    with pytest.raises(ConfigError, match="min_depth"):
        make_protocol("nyu", min_depth=20.0)
    with pytest.raises(ConfigError, match="alignment"):
        make_protocol("nyu", alignment="cubic")
    with pytest.raises(ConfigError, match="unknown benchmark"):
        make_protocol("mars")


# ------------------------------------------------------------------------------------------- crops
# (crop, height, width) → rows top:bottom, columns left:right, as the standard evaluation code
# computes them (np.int32 of the published fractions; NYU: the fixed 45:471, 41:601 of 480×640).
CROP_BOUNDS = {
    ("garg", 375, 1242): (153, 371, 44, 1197),
    ("garg", 352, 1216): (143, 349, 43, 1172),
    ("garg", 370, 1224): (151, 366, 43, 1180),
    ("eigen", 375, 1242): (124, 342, 44, 1197),
    ("eigen", 352, 1216): (117, 321, 43, 1172),
    ("eigen", 370, 1224): (122, 337, 43, 1180),
    ("nyu", 480, 640): (45, 471, 41, 601),
}


def _bounds(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


@pytest.mark.parametrize(("crop", "height", "width"), sorted(CROP_BOUNDS))
def test_crop_masks_have_the_standard_bounds(crop, height, width):
    top, bottom, left, right = CROP_BOUNDS[(crop, height, width)]
    mask = crop_mask((height, width), crop)
    assert mask.shape == (height, width) and mask.dtype == bool
    assert _bounds(mask) == (top, bottom, left, right)
    expected = np.zeros((height, width), bool)
    expected[top:bottom, left:right] = True
    np.testing.assert_array_equal(mask, expected)  # one solid rectangle, all four edges


def test_crop_fractions_are_the_published_ones():
    assert CROPS["garg"] == pytest.approx((0.40810811, 0.99189189, 0.03594771, 0.96405229), abs=1e-8)
    assert CROPS["eigen"] == pytest.approx((0.3324324, 0.91351351, 0.0359477, 0.96405229), abs=1e-6)
    assert CROPS["nyu"] == pytest.approx((45 / 480, 471 / 480, 41 / 640, 601 / 640), abs=1e-12)
    assert crop_mask((4, 5), None).all()


def test_datasets_use_their_standard_crop_and_range():
    assert get_benchmark("kitti").settings.crop == "garg" and get_benchmark("kitti").settings.max_depth == 80.0
    assert get_benchmark("nyu").settings.crop == "nyu" and get_benchmark("nyu").settings.max_depth == 10.0
    # the protocol's evaluated pixels are exactly the crop (inside the depth range)
    gt = np.full((480, 640), 5.0)
    mask = evaluation_mask(gt, None, make_protocol("nyu"))
    assert _bounds(mask) == (45, 471, 41, 601) and mask.sum() == (471 - 45) * (601 - 41)
    gt = np.full((375, 1242), 5.0)
    assert _bounds(evaluation_mask(gt, None, make_protocol("kitti"))) == (153, 371, 44, 1197)
    assert _bounds(evaluation_mask(gt, None, make_protocol("kitti", crop="eigen"))) == (124, 342, 44, 1197)
