"""Validation during training: the objective's loss, δ1 and AbsRel on the validation sets, each rank
scoring its shard and the sums added over ranks.

Scores follow the evaluation protocol (`eval.protocols.to_depth`): a relative model's disparity is
aligned to the label's disparity by least-squares scale and shift and kept inside the label's own
disparity range (so one near-zero value cannot dominate AbsRel), then compared as depth; a metric
model's depth is compared as it is (only kept positive).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.augment import DepthTrainDataset
from ..eval.metrics import compute_metrics
from ..eval.protocols import Protocol, to_depth
from .config import TrainConfig
from .distributed import DistEnv, all_reduce_sum
from .loading import make_loader, report_skipped, to_device
from .objective import Objective
from .setup import autocast

# Smallest metric depth scored: a metric head's output is positive by construction; this only keeps
# a rounded-to-zero value out of the logarithms.
MIN_METRIC_DEPTH = 1e-6
# Disparity below this counts as this (a label's zero disparity is a point at infinity).
MIN_DISPARITY = 1e-12


def label_protocol(target: np.ndarray, mask: np.ndarray, metric: bool) -> tuple[Protocol, np.ndarray]:
    """The protocol one validation label is scored under, and the label as depth.

    Metric labels are depth: the prediction is used as is. Relative labels are disparity: the
    alignment is affine in disparity and the depth range is the label's own.
    """
    if metric:
        return Protocol("metric", "none", MIN_METRIC_DEPTH, math.inf), target
    depth = np.where(mask, 1.0 / np.maximum(target, MIN_DISPARITY), 0.0)
    near, far = float(depth[mask].min()), float(depth[mask].max())
    if not near < far:  # a label of one disparity: a range one rounding step wide
        far = float(np.nextafter(far, math.inf))
    return Protocol("relative", "affine", near, far), depth


def score_sample(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, metric: bool) -> dict[str, float]:
    """The evaluation metrics of one prediction against its training label over `mask`."""
    protocol, gt_depth = label_protocol(target, mask, metric)
    depth = to_depth(pred, gt_depth, mask, protocol, "depth" if metric else "disparity")
    return compute_metrics(depth, gt_depth, mask)


class Validator:
    """Scores a model on the validation sets of a config (see module docstring)."""

    def __init__(
        self,
        config: TrainConfig,
        dataset: DepthTrainDataset,
        objective: Objective,
        env: DistEnv,
        device: torch.device,
        amp_dtype: torch.dtype | None,
        batch_size: int,
    ) -> None:
        self.dataset, self.objective, self.env = dataset, objective, env
        self.device, self.amp_dtype, self.batch_size = device, amp_dtype, batch_size
        self.metric, self.workers = config.stage == "metric", config.data.num_workers
        self.indices = list(range(env.rank, len(dataset), env.world_size))
        if config.data.max_val_samples is not None:
            self.indices = [i for i in self.indices if i < config.data.max_val_samples]

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> dict[str, Any]:
        """val_loss, d1, abs_rel (means over scored samples), samples and skipped (counts), over all ranks."""
        model.eval()
        sums = torch.zeros(5, dtype=torch.float64)  # loss, d1, abs_rel, count, skipped
        for batch in make_loader(self.dataset, self.indices, self.batch_size, self.workers, self.device):
            sums[4] += report_skipped(batch, self.env.rank, "validation sample")
            if not batch["size"]:
                continue
            batch = to_device(batch, self.device)
            with autocast(self.device, self.amp_dtype):
                depth = model(batch["image"])
            _, terms = self.objective(batch, depth, None)
            for i in range(batch["size"]):
                mask = batch["valid"][i].cpu().numpy()
                if mask.sum() < 2:
                    continue
                pred = depth[i].float().cpu().numpy().astype(np.float64)
                target = batch["target"][i].cpu().numpy().astype(np.float64)
                metrics = score_sample(pred, target, mask, self.metric)
                sums[:4] += torch.tensor([float(terms["total"][i]), metrics["d1"], metrics["abs_rel"], 1.0],
                                         dtype=torch.float64)
        total = all_reduce_sum(sums.to(self.device)).cpu()
        count = max(float(total[3]), 1.0)
        return {"val_loss": float(total[0]) / count, "d1": float(total[1]) / count,
                "abs_rel": float(total[2]) / count, "samples": int(total[3]), "skipped": int(total[4])}
