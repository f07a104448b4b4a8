"""Known-answer tests of the metrics, with values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depth_anything.eval.metrics import METRIC_NAMES, MetricAverager, compute_metrics


def test_metrics_on_three_pixels_worked_by_hand() -> None:
    # gt = 1, 2, 4 and pred = 1, 1, 5: ratios max(g/p, p/g) = 1, 2, 1.25
    m = compute_metrics(np.array([1.0, 1.0, 5.0]), np.array([1.0, 2.0, 4.0]))
    assert m["d1"] == pytest.approx(1 / 3)  # only ratio 1 is < 1.25 (1.25 itself is not)
    assert m["d2"] == pytest.approx(2 / 3)  # 1.25 < 1.5625, 2 is not
    assert m["d3"] == pytest.approx(2 / 3)  # 2 > 1.953125
    assert m["abs_rel"] == pytest.approx((0 + 1 / 2 + 1 / 4) / 3)  # 0.25
    assert m["sq_rel"] == pytest.approx((0 + 1 / 2 + 1 / 4) / 3)  # (p-g)^2/g = 0, 1/2, 1/4
    assert m["rmse"] == pytest.approx(math.sqrt(2 / 3))
    d = [0.0, math.log(1 / 2), math.log(5 / 4)]
    mean_sq = sum(x * x for x in d) / 3
    assert m["rmse_log"] == pytest.approx(math.sqrt(mean_sq))  # 0.420415
    assert m["rmse_log"] == pytest.approx(0.420415, abs=1e-6)
    assert m["log10"] == pytest.approx((math.log10(2) + math.log10(1.25)) / 3)  # 0.132647
    assert m["silog"] == pytest.approx(math.sqrt(mean_sq - 0.5 * (sum(d) / 3) ** 2))  # 0.405557
    assert m["silog"] == pytest.approx(0.405557, abs=1e-6)


def test_perfect_prediction_and_global_scale() -> None:
    gt = np.array([[0.5, 3.0], [7.0, 10.0]])
    perfect = compute_metrics(gt, gt)
    assert perfect["d1"] == 1.0 and perfect["abs_rel"] == 0.0 and perfect["silog"] == 0.0
    scaled = compute_metrics(1.5 * gt, gt)
    assert scaled["abs_rel"] == pytest.approx(0.5)
    assert scaled["d1"] == 0.0 and scaled["d2"] == 1.0  # ratio 1.5: not < 1.25, but < 1.5625
    assert scaled["rmse_log"] == pytest.approx(math.log(1.5))
    assert scaled["silog"] == pytest.approx(math.log(1.5) / math.sqrt(2))  # sqrt(l² − l²/2)
    assert scaled["log10"] == pytest.approx(math.log10(1.5))


def test_mask_selects_valid_pixels_only() -> None:
    gt = np.array([1.0, 2.0, 0.0])
    pred = np.array([1.0, 2.0, 5.0])
    m = compute_metrics(pred, gt, mask=gt > 0)
    assert m["abs_rel"] == 0.0
    with pytest.raises(ValueError, match="positive"):
        compute_metrics(pred, gt)
    with pytest.raises(ValueError, match="no valid pixels"):
        compute_metrics(pred, gt, mask=np.zeros(3, bool))


def test_averager_averages_per_image() -> None:
    averager = MetricAverager()
    averager.add(dict.fromkeys(METRIC_NAMES, 1.0))
    averager.add(dict.fromkeys(METRIC_NAMES, 0.0))
    assert averager.count == 2 and averager.means()["abs_rel"] == 0.5
    assert math.isnan(MetricAverager().means()["d1"])
