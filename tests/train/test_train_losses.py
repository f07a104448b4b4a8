"""Known answers of the training losses, and that masked pixels can never leak into them."""

from __future__ import annotations

import math

import pytest
import torch

from depth_anything.train.losses import (
    feature_alignment_loss,
    gradient_matching_loss,
    relative_depth_loss,
    silog_loss,
    ssi_loss,
    trim_mask,
)


def _maps(batch: int = 2, size: int = 24, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    pred = torch.rand(batch, size, size, generator=generator, dtype=torch.float64) + 0.1
    mask = torch.rand(batch, size, size, generator=generator) > 0.2
    return pred, mask


@pytest.mark.parametrize("scale, shift", [(1.0, 0.0), (3.7, 0.0), (0.02, -5.0), (250.0, 1e3)])
def test_ssi_is_zero_for_any_positive_scale_and_shift(scale: float, shift: float) -> None:
    pred, mask = _maps()
    target = scale * pred + shift
    assert torch.all(ssi_loss(pred, target, mask) < 1e-9)
    # ...while an unrelated target or a flipped one (negative scale) is penalised
    other, _ = _maps(seed=1)
    assert torch.all(ssi_loss(pred, other, mask) > 0.1)
    assert torch.all(ssi_loss(pred, -target, mask) > 0.1)


def test_gradient_loss_is_zero_for_shifted_targets() -> None:
    pred, mask = _maps()
    assert torch.all(gradient_matching_loss(pred, pred + 4.2, mask) < 1e-9)
    noisy = pred + 0.3 * torch.randn(pred.shape, generator=torch.Generator().manual_seed(5), dtype=pred.dtype)
    assert torch.all(gradient_matching_loss(pred, noisy, mask) > 0.1)


def test_gradient_loss_sums_its_scales() -> None:
    # Scale k compares gradients on the grid subsampled by 2^k: two scales = scale 0 + scale 0 of
    # the half-resolution maps (inputs already normalised, so normalisation cannot differ).
    pred, mask = _maps(batch=1, size=32)
    target, _ = _maps(batch=1, size=32, seed=7)
    two = gradient_matching_loss(pred, target, mask, scales=2, normalized=True)
    fine = gradient_matching_loss(pred, target, mask, scales=1, normalized=True)
    coarse = gradient_matching_loss(pred[:, ::2, ::2], target[:, ::2, ::2], mask[:, ::2, ::2], 1, normalized=True)
    assert torch.allclose(two, fine + coarse)
    # hand-computed: residuals [[0, 3], [masked, 0]]: |3 − 0| across row 0 and |0 − 3| down column 1,
    # divided by the 3 valid pixels
    p = torch.tensor([[[1.0, 5.0], [0.0, 0.0]]], dtype=torch.float64)
    t = torch.tensor([[[1.0, 2.0], [9.0, 0.0]]], dtype=torch.float64)
    m = torch.tensor([[[True, True], [False, True]]])
    assert float(gradient_matching_loss(p, t, m, scales=1, normalized=True)[0]) == pytest.approx(6.0 / 3.0)


def test_silog_matches_hand_computed_value() -> None:
    pred = torch.tensor([[[1.0, 2.0, 7.0]]])
    target = torch.tensor([[[2.0, 2.0, 9.0]]])
    mask = torch.tensor([[[True, True, False]]])
    # g = log t − log p over the two valid pixels = [log 2, 0]
    # mean(g²) − 0.5·mean(g)² = (log 2)²/2 − 0.5·(log 2 / 2)² = (3/8)(log 2)²
    expected = math.log(2.0) * math.sqrt(3.0 / 8.0)
    assert float(silog_loss(pred, target, mask, lam=0.5)[0]) == pytest.approx(expected, rel=1e-6)
    # λ = 1 is fully scale-invariant: a global scale of the prediction costs nothing
    assert float(silog_loss(3.0 * target, target, torch.ones_like(mask), lam=1.0)[0]) < 1e-5


def test_masked_pixels_never_contribute() -> None:
    pred, mask = _maps()
    target = 2.0 * pred + 1.0 + 0.1 * torch.rand(pred.shape, generator=torch.Generator().manual_seed(2), dtype=pred.dtype)
    clean = {
        "ssi": lambda p, t: ssi_loss(p, t, mask, 0.1),
        "gradient": lambda p, t: gradient_matching_loss(p, t, mask),
        "relative": lambda p, t: relative_depth_loss(p, t, mask, 0.1).total,
        "silog": lambda p, t: silog_loss(p, t, mask),
    }
    garbage_pred = torch.where(mask, pred, torch.full_like(pred, float("nan")))
    garbage_target = torch.where(mask, target, torch.full_like(target, float("inf")))
    garbage_target[~mask & (torch.arange(pred.numel()).view(pred.shape) % 2 == 0)] = -1e30
    for name, loss in clean.items():
        reference = loss(pred, target)
        leaking = garbage_pred.clone().requires_grad_(True)
        value = loss(leaking, garbage_target)
        assert torch.allclose(value, reference, atol=1e-6), name
        value.sum().backward()
        assert torch.all(torch.isfinite(leaking.grad)), name
        assert torch.all(leaking.grad[~mask] == 0), name


def test_trim_drops_pixels_above_the_90th_percentile_per_sample() -> None:
    losses = torch.stack([torch.arange(100.0), 1000.0 + torch.arange(100.0)]).view(2, 10, 10)
    mask = torch.ones_like(losses, dtype=torch.bool)
    kept = trim_mask(losses, mask, 0.1)
    assert kept.flatten(1).sum(1).tolist() == [90, 90]
    assert float(losses[0][kept[0]].max()) == 89.0 and float(losses[1][kept[1]].max()) == 1089.0
    # invalid pixels are neither counted nor kept
    mask[0, 0, :] = False
    kept = trim_mask(losses, mask, 0.1)
    assert not kept[0, 0].any() and int(kept[0].sum()) == 81


def _trim_one_by_one(losses: torch.Tensor, mask: torch.Tensor, fractions: list[float]) -> torch.Tensor:
    """The per-sample reference: k-th smallest valid loss, k = max(1, ⌈(1 − f)·n⌉), kept where ≤ it."""
    keep = mask.clone()
    for i, fraction in enumerate(fractions):
        values = losses[i][mask[i]]
        if fraction == 0.0 or values.numel() == 0:
            continue
        k = max(1, math.ceil((1.0 - fraction) * values.numel()))
        keep[i] &= losses[i] <= torch.kthvalue(values, k).values
    return keep


def test_batched_trim_keeps_the_same_pixels_as_trimming_each_sample_alone() -> None:
    generator = torch.Generator().manual_seed(7)
    losses = torch.rand(6, 17, 19, generator=generator)
    losses[1, :4] = losses[1, 4:8]  # ties
    keep_rates = [0.9, 0.5, 0.05, 0.7, 0.0, 1.0]  # different valid counts per sample, one sample empty
    mask = torch.stack([torch.rand(17, 19, generator=generator) < rate for rate in keep_rates])
    mask[5, 3, 3] = False
    fractions = [0.1, 0.25, 0.1, 0.0, 0.1, 0.33]
    expected = _trim_one_by_one(losses, mask, fractions)
    assert torch.equal(trim_mask(losses, mask, torch.tensor(fractions)), expected)
    assert torch.equal(trim_mask(losses, mask, 0.1), _trim_one_by_one(losses, mask, [0.1] * 6))
    assert not torch.equal(expected, mask)  # something was trimmed
    with pytest.raises(ValueError, match="drop_fraction"):
        trim_mask(losses, mask, torch.tensor([0.1, 1.0, 0, 0, 0, 0]))


def test_trimmed_relative_loss_ignores_outliers_only_where_asked() -> None:
    pred, _ = _maps(batch=1)
    mask = torch.ones_like(pred, dtype=torch.bool)
    target = pred.clone()
    target.view(-1)[::25] += 50.0  # 4% corrupted labels
    trimmed = relative_depth_loss(pred.repeat(2, 1, 1), target.repeat(2, 1, 1), mask.repeat(2, 1, 1),
                                  torch.tensor([0.1, 0.0]))
    assert float(trimmed.ssi[0]) < 0.5 * float(trimmed.ssi[1])
    assert float(trimmed.total[0]) == pytest.approx(float(trimmed.ssi[0] + 2.0 * trimmed.gradient[0]), rel=1e-6)


def test_feature_alignment_ignores_tokens_within_margin() -> None:
    reference = torch.randn(2, 10, 16, generator=torch.Generator().manual_seed(0))
    assert torch.all(feature_alignment_loss(reference * 3.0, reference) == 0)  # cos = 1 > margin: ignored
    student = reference.clone()
    student[:, 5:] = -reference[:, 5:]  # half the tokens point the other way: 1 − cos = 2
    assert torch.allclose(feature_alignment_loss(student, reference, margin=0.85), torch.full((2,), 2.0))
    # [B, C, h, w] maps and (tokens, cls) pairs are read as tokens
    as_map = student.transpose(1, 2).reshape(2, 16, 2, 5)
    assert torch.allclose(feature_alignment_loss(as_map, (reference, None)), torch.full((2,), 2.0))
