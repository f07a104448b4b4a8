"""Training losses of Depth Anything V1/V2, all returning one value per sample.

Per-sample values (shape [B]) let the trainer name the sample that produced a NaN and average over
the samples that actually had valid pixels. Masks are boolean [B, H, W]; a masked-out pixel never
contributes to any loss (it is replaced, not multiplied, so NaN/inf under the mask cannot leak in).

- `ssi_loss`: scale-and-shift-invariant loss (MiDaS / V1): both maps are normalised per sample by
  their median and mean absolute deviation over valid pixels, then compared with L1; the relative-
  depth loss uses the same computation (`_ssi`).
- `gradient_matching_loss`: L1 of the gradients of the normalised residual, over several scales.
- `trim_mask`: the "ignore the top 10% largest losses" rule used on pseudo-labeled samples.
- `feature_alignment_loss`: V1's cosine feature alignment with a tolerance margin.
- `silog_loss`: the scale-invariant log loss of metric fine-tuning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_EPS = 1e-6


def _check(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> None:
    if pred.shape != target.shape or pred.shape != mask.shape or pred.dim() != 3:
        raise ValueError(
            f"expected prediction, target and mask of one shape [B, H, W]; got {tuple(pred.shape)}, "
            f"{tuple(target.shape)}, {tuple(mask.shape)}"
        )
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor, got {mask.dtype}")


def _clean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`x` in at least float32 (float64 stays) with masked-out pixels replaced by 0.

    Replacing (not multiplying) first matters for the backward pass too: a NaN under the mask would
    otherwise turn into NaN gradients through the per-sample statistics.
    """
    x = x if x.dtype == torch.float64 else x.float()
    return torch.where(mask, x, torch.zeros_like(x))


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the masked pixels of each sample ([B, ...] → [B]); 0 where a sample has none."""
    flat_values = torch.where(mask, values, torch.zeros_like(values)).flatten(1)
    count = mask.flatten(1).sum(dim=1)
    return flat_values.sum(dim=1) / count.clamp(min=1)


def normalize_ssi(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(x − median) / mean|x − median| per sample over valid pixels; invalid pixels become 0.

    This makes any map with a positive scale and any shift of another map normalise to the same
    values, which is what makes the losses below affine-invariant.
    """
    x = _clean(x, mask)
    flat = torch.where(mask, x, torch.full_like(x, float("nan"))).flatten(1)
    median = torch.nanmedian(flat, dim=1).values.nan_to_num(0.0)
    centred = x - median.view(-1, 1, 1)
    scale = _masked_mean(centred.abs(), mask).clamp(min=_EPS)
    return torch.where(mask, centred / scale.view(-1, 1, 1), torch.zeros_like(x))


def _fractions(drop_fraction: torch.Tensor | float, batch: int, device: torch.device) -> torch.Tensor:
    """`drop_fraction` (one value or one per sample) as a float64 [B] tensor on `device`, checked."""
    fractions = torch.as_tensor(drop_fraction, dtype=torch.float32).flatten().to(device, torch.float64)
    if fractions.numel() == 1:
        fractions = fractions.expand(batch)
    if fractions.numel() != batch:
        raise ValueError(f"drop_fraction has {fractions.numel()} entries for a batch of {batch}")
    if bool(((fractions < 0.0) | (fractions >= 1.0)).any()):
        raise ValueError(f"drop_fraction must be in [0, 1), got {fractions.tolist()}")
    return fractions


def trim_mask(
    pixel_loss: torch.Tensor, mask: torch.Tensor, drop_fraction: torch.Tensor | float = 0.1
) -> torch.Tensor:
    """Drop, per sample, the valid pixels whose loss is above the (1 − drop_fraction) quantile.

    Pseudo-labels are noisy; the paper ignores the 10% largest per-pixel losses of each pseudo-
    labeled sample. `drop_fraction` may be one value or one per sample (0 keeps the sample's mask).
    The threshold of a sample with n valid pixels is its k-th smallest valid loss, k = ⌈(1 − f)·n⌉
    (at least 1); the whole batch is done at once, with no per-sample indexing. Not differentiated.
    """
    batch = mask.shape[0]
    fractions = _fractions(drop_fraction, batch, mask.device)
    if not bool((fractions > 0).any()):
        return mask
    detached = pixel_loss.detach()
    flat = torch.where(mask, detached, torch.full_like(detached, math.inf)).flatten(1)
    ordered = flat.sort(dim=1).values  # valid losses first, ascending
    count = mask.flatten(1).sum(dim=1).to(torch.float64)
    k = torch.ceil((1.0 - fractions) * count).clamp(min=1).long()
    threshold = ordered.gather(1, (k - 1).clamp(max=flat.shape[1] - 1).unsqueeze(1))
    below = detached <= threshold.view(batch, *([1] * (mask.dim() - 1)))
    untrimmed = (fractions == 0).view(batch, *([1] * (mask.dim() - 1)))
    return mask & (below | untrimmed)


def _ssi(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, drop_fraction: torch.Tensor | float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The one SSI computation: normalised prediction and target, the pixels kept after trimming,
    and the per-sample SSI loss (mean |difference| over the kept pixels)."""
    _check(pred, target, mask)
    pred_n, target_n = normalize_ssi(pred, mask), normalize_ssi(target, mask)
    pixel = (pred_n - target_n).abs()
    kept = trim_mask(pixel, mask, drop_fraction)
    return pred_n, target_n, kept, _masked_mean(pixel, kept)


def ssi_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, drop_fraction: torch.Tensor | float = 0.0
) -> torch.Tensor:
    """Scale-and-shift-invariant L1 per sample ([B]); `drop_fraction` trims the largest losses."""
    return _ssi(pred, target, mask, drop_fraction)[3]


def _gradient_terms(residual: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of |∂x r| + |∂y r| over pixel pairs that are both valid, and the valid-pixel count."""
    mask_x = mask[:, :, 1:] & mask[:, :, :-1]
    mask_y = mask[:, 1:, :] & mask[:, :-1, :]
    grad_x = (residual[:, :, 1:] - residual[:, :, :-1]).abs()
    grad_y = (residual[:, 1:, :] - residual[:, :-1, :]).abs()
    total = torch.where(mask_x, grad_x, torch.zeros_like(grad_x)).flatten(1).sum(1)
    total = total + torch.where(mask_y, grad_y, torch.zeros_like(grad_y)).flatten(1).sum(1)
    return total, mask.flatten(1).sum(1)


def gradient_matching_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, scales: int = 4, normalized: bool = False
) -> torch.Tensor:
    """Multi-scale gradient matching (MiDaS) on the normalised residual, per sample ([B]).

    At scale k the maps are subsampled by 2^k; each scale's sum of gradient magnitudes is divided by
    its number of valid pixels. Pass `normalized=True` when `pred`/`target` are already the output of
    `normalize_ssi` (the combined loss does this to normalise once).
    """
    _check(pred, target, mask)
    if scales < 1:
        raise ValueError(f"scales must be ≥ 1, got {scales}")
    if normalized:
        pred, target = _clean(pred, mask), _clean(target, mask)
    else:
        pred, target = normalize_ssi(pred, mask), normalize_ssi(target, mask)
    residual = torch.where(mask, pred - target, torch.zeros_like(pred))
    loss = torch.zeros(pred.shape[0], device=pred.device, dtype=residual.dtype)
    for k in range(scales):
        step = 2**k
        total, count = _gradient_terms(residual[:, ::step, ::step], mask[:, ::step, ::step])
        loss = loss + total / count.clamp(min=1)
    return loss


@dataclass
class RelativeLossTerms:
    """Per-sample terms of the relative-depth loss; `total` is weighted and summed."""

    total: torch.Tensor
    ssi: torch.Tensor
    gradient: torch.Tensor


def relative_depth_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    drop_fraction: torch.Tensor | float = 0.0,
    ssi_weight: float = 1.0,
    gradient_weight: float = 2.0,
    scales: int = 4,
) -> RelativeLossTerms:
    """SSI + gradient matching (1:2 in the paper), with per-sample top-loss trimming.

    `drop_fraction` may be a [B] tensor so that a batch can mix exact labels (no trimming) and
    pseudo-labels (trimmed). Trimmed pixels are excluded from both terms.
    """
    pred_n, target_n, kept, ssi = _ssi(pred, target, mask, drop_fraction)
    gradient = gradient_matching_loss(pred_n, target_n, kept, scales=scales, normalized=True)
    return RelativeLossTerms(ssi_weight * ssi + gradient_weight * gradient, ssi, gradient)


def _tokens(feature: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """Encoder outputs come as [B, N, C] tokens, [B, C, h, w] maps or (tokens, cls) pairs; → [B, N, C]."""
    if isinstance(feature, (tuple, list)):
        feature = feature[0]
    if feature.dim() == 4:
        return feature.flatten(2).transpose(1, 2)
    if feature.dim() != 3:
        raise ValueError(f"expected encoder features [B, N, C] or [B, C, h, w], got shape {tuple(feature.shape)}")
    return feature


def feature_alignment_loss(
    student: torch.Tensor | Sequence[torch.Tensor],
    reference: torch.Tensor | Sequence[torch.Tensor],
    margin: float = 0.85,
) -> torch.Tensor:
    """V1's feature alignment per sample ([B]): mean of 1 − cos(student, frozen reference).

    Tokens whose cosine similarity already exceeds `margin` are left alone, so the student keeps the
    freedom to move away from the reference where depth needs it (V1 uses 0.85).
    """
    s, r = _tokens(student).float(), _tokens(reference).float().detach()
    if s.shape != r.shape:
        raise ValueError(f"student features {tuple(s.shape)} and reference features {tuple(r.shape)} differ")
    cosine = F.cosine_similarity(s, r, dim=-1)  # [B, N]
    keep = cosine < margin
    return _masked_mean(1.0 - cosine, keep)


def silog_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, lam: float = 0.5) -> torch.Tensor:
    """Scale-invariant log loss per sample ([B]): sqrt(mean(g²) − λ·mean(g)²), g = log t − log p.

    Pixels where the prediction or the target is not positive are excluded along with the mask.
    """
    _check(pred, target, mask)
    valid = mask & (target > 0) & (pred > 0)
    pred, target = _clean(pred, valid), _clean(target, valid)
    one = torch.ones_like(pred)
    g = torch.log(torch.where(valid, target, one)) - torch.log(torch.where(valid, pred, one))
    mean_g = _masked_mean(g, valid)
    mean_g2 = _masked_mean(g * g, valid)
    # A tiny floor keeps the sqrt differentiable when the prediction is exact.
    return torch.sqrt((mean_g2 - lam * mean_g * mean_g).clamp(min=1e-12))


def clip_scale_shift(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One least-squares scale and shift per clip ([B, T, H, W] → two [B]) mapping `pred` onto `target`
    over every valid pixel of every frame; differentiable (the temporal loss lets gradients flow
    through the fit, as VDA's published loss does). A clip whose system is singular gets (1, 0)."""
    weight = mask.flatten(1).to(pred.dtype)
    p, t = _clean(pred, mask).flatten(1), _clean(target, mask).flatten(1)
    a00, a01, a11 = (weight * p * p).sum(1), (weight * p).sum(1), weight.sum(1)
    b0, b1 = (weight * p * t).sum(1), (weight * t).sum(1)
    det = a00 * a11 - a01 * a01
    usable = det.abs() > _EPS * a11.clamp(min=1) ** 2
    safe = torch.where(usable, det, torch.ones_like(det))
    scale = torch.where(usable, (a11 * b0 - a01 * b1) / safe, torch.ones_like(det))
    shift = torch.where(usable, (a00 * b1 - a01 * b0) / safe, torch.zeros_like(det))
    return scale, shift


def temporal_gradient_matching_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, threshold: float = 0.05
) -> torch.Tensor:
    """Video Depth Anything's temporal gradient matching (TGM) loss per clip ([B, T, H, W] → [B]).

    The prediction is first mapped onto the target by one scale and shift for the whole clip (so the
    frame-to-frame changes of both are in the same units); then the L1 difference of the temporal
    changes d_{t+1} − d_t and g_{t+1} − g_t is averaged over pixels valid in both frames whose target
    changes by less than `threshold` × the target's range in frame t+1 (a pixel that changes a lot
    belongs to a moving edge or occlusion, where the prediction should not be held to the previous
    frame). Clips of one frame (images in a mixed batch) give 0.

    One deliberate difference from the published code: both changes are divided by the target's mean
    absolute deviation from its median over the clip, so the loss is in the same units for every
    dataset (the published code works in the target's own units, so the weight of 10 would mean one
    thing for disparity in 1/metres and another for disparity normalised otherwise).
    """
    if pred.dim() != 4 or pred.shape != target.shape or pred.shape != mask.shape:
        raise ValueError(f"expected prediction, target and mask of one shape [B, T, H, W]; got {tuple(pred.shape)}, "
                         f"{tuple(target.shape)}, {tuple(mask.shape)}")
    if pred.shape[1] < 2:
        return pred.new_zeros(pred.shape[0], dtype=torch.float32)
    pred, target = _clean(pred, mask), _clean(target, mask)
    scale, shift = clip_scale_shift(pred, target, mask)
    aligned = scale.view(-1, 1, 1, 1) * pred + shift.view(-1, 1, 1, 1)
    highest = torch.where(mask, target, torch.full_like(target, -math.inf)).flatten(2).max(2).values
    lowest = torch.where(mask, target, torch.full_like(target, math.inf)).flatten(2).min(2).values
    limit = ((highest - lowest) * threshold).nan_to_num(0.0, posinf=0.0, neginf=0.0)[:, 1:]  # [B, T-1]
    change_pred, change_target = aligned[:, 1:] - aligned[:, :-1], target[:, 1:] - target[:, :-1]
    kept = mask[:, 1:] & mask[:, :-1] & (change_target.abs() < limit[..., None, None])
    flat = torch.where(mask, target, torch.full_like(target, math.nan)).flatten(1)
    median = torch.nanmedian(flat, dim=1).values.nan_to_num(0.0)
    spread = _masked_mean((target - median.view(-1, 1, 1, 1)).abs(), mask).clamp(min=_EPS)
    return _masked_mean((change_pred - change_target).abs(), kept) / spread.detach()
