"""The training objective of a stage, assembled from the config's `loss` section.

Teacher and student (relative stages): SSI + gradient matching on disparity, with the top-loss
trimming on pseudo-labeled samples, plus feature alignment to a frozen reference encoder on
pseudo-labeled samples when there is one. Metric stage: SiLog on depth. The terms themselves live in
`losses`; this module only weighs and sums them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .config import TrainConfig
from .losses import feature_alignment_loss, relative_depth_loss, silog_loss
from .setup import autocast


class Objective:
    """Per-sample loss terms and the batch loss of one stage (see module docstring)."""

    def __init__(
        self,
        config: TrainConfig,
        reference: nn.Module | None,
        feature_index: int,
        device: torch.device,
        amp_dtype: torch.dtype | None,
    ) -> None:
        self.loss, self.metric = config.loss, config.stage == "metric"
        self.reference, self.feature_index = reference, feature_index
        self.device, self.amp_dtype = device, amp_dtype

    def __call__(
        self, batch: dict[str, Any], depth: torch.Tensor, feature: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The batch loss (mean over samples with valid pixels) and per-sample terms, "total" among
        them; without `feature` (validation) no feature alignment term."""
        cfg = self.loss
        target, valid, pseudo = batch["target"], batch["valid"], batch["pseudo"]
        has_pixels = valid.flatten(1).any(dim=1).float()
        terms: dict[str, torch.Tensor] = {}
        if self.metric:
            per_sample = silog_loss(depth.float(), target, valid, cfg.silog_lambda)
            terms["silog"] = per_sample
        else:
            drop = torch.where(pseudo, cfg.trim_fraction, 0.0)
            rel = relative_depth_loss(
                depth.float(), target, valid, drop, cfg.ssi_weight, cfg.gradient_weight, cfg.gradient_scales
            )
            per_sample, terms["ssi"], terms["gradient"] = rel.total, rel.ssi, rel.gradient
        loss = (per_sample * has_pixels).sum() / has_pixels.sum().clamp(min=1)
        if self.reference is not None and feature is not None:
            with torch.no_grad(), autocast(self.device, self.amp_dtype):
                reference = self.reference.get_intermediate_layers(batch["image"], [self.feature_index])[0][0]
            feat = feature_alignment_loss(feature, reference, cfg.feature_margin)
            weight = pseudo.to(feat.device).float()
            terms["feature"] = feat
            per_sample = per_sample + cfg.feature_weight * feat * weight
            loss = loss + cfg.feature_weight * (feat * weight).sum() / weight.sum().clamp(min=1)
        terms["total"] = per_sample
        return loss, terms
