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
