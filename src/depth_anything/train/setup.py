"""What the trainer trains: the network (with its starting weights and the changes training needs
before step 1), the frozen reference encoder of feature alignment, the optimiser and the precision.

Starting weights (`model.init`, `model.feature_reference`) are found as `load_model` finds them: an
existing path, else a built-in or cached published model, else a download (`weights.resolve`).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointMismatchError
from ..models import DepthAnything, build_model
from ..weights.files import read_checkpoint
from ..weights.load import load_state_dict_checked
from ..weights.resolver import resolve
from .config import TrainConfig, model_config_from


def seed_everything(seed: int, rank: int = 0) -> None:
    """Seed python, numpy and torch; ranks get different streams (model init is broadcast anyway)."""
    random.seed(seed + rank)
    np.random.seed((seed + rank) % 2**32)
    torch.manual_seed(seed + rank)


# ----------------------------------------------------------------------------------- starting weights
def read_init(name_or_path: str) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict behind a file or a published/built-in model name, and the file it came from."""
    file = resolve(name_or_path, download=True).path
    state, _ = read_checkpoint(file)
    return state, str(file)


def load_init(model: DepthAnything, name_or_path: str, encoder_only: bool) -> None:
    """Start from a checkpoint: all weights, or only the encoder (`pretrained.*`) for metric fine-tuning."""
    if encoder_only:
        load_encoder(model.pretrained, name_or_path)
        return
    state, file = read_init(name_or_path)
    load_state_dict_checked(model, state, file)


def load_encoder(encoder: nn.Module, name_or_path: str) -> None:
    """Load only encoder weights into `encoder` (a model's `pretrained`): a full model's `pretrained.*`
    or a bare DINOv2 checkpoint."""
    state, file = read_init(name_or_path)
    weights = {k.removeprefix("pretrained."): v for k, v in state.items() if k.startswith("pretrained.")}
    if not weights and "patch_embed.proj.weight" in state:  # a bare DINOv2 checkpoint, as the paper starts from
        weights = dict(state)
    if not weights:
        raise CheckpointMismatchError(f"{file}: no encoder weights ('pretrained.*' or DINOv2 keys) to initialise from")
    try:
        encoder.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise CheckpointMismatchError(f"{file}: encoder does not fit the configured model ({exc})") from None


# ----------------------------------------------------------------------------------- the network
def feature_layer(model: nn.Module) -> int:
    """The encoder block whose tokens feature alignment compares, for student and reference alike:
    the deepest block the head reads."""
    return max(model.config.layer_indices)


class TrainForward(nn.Module):
    """Depth and the aligned encoder feature (`feature_layer`) from one pass, so DDP sees a single
    forward per step."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        patch = self.model.config.patch_size
        features = self.model.encode(x)
        depth = self.model.decode(features, x.shape[-2] // patch, x.shape[-1] // patch)
        return depth, features[list(self.model.config.layer_indices).index(feature_layer(self.model))][0]


def freeze_unused(model: nn.Module, run: Callable[[nn.Module, torch.Tensor], Any] | None = None) -> None:
    """Stop tracking parameters that the training forward never reaches.

    DDP waits for a gradient of every trainable parameter, so unused ones (DINOv2's `mask_token`, the
    skip-input unit of the deepest fusion block, blocks after the last one read) would hang it. One
    backward pass on a tiny zero input [1, 3, 2p, 2p] finds them whatever the architecture; `run(model,
    probe)` is the training forward (default: `TrainForward`'s depth and feature), a tensor or tensors.
    """
    patch = model.config.patch_size
    parameter = next(model.parameters())
    probe = torch.zeros(1, 3, 2 * patch, 2 * patch, device=parameter.device, dtype=parameter.dtype)
    outputs = TrainForward(model)(probe) if run is None else run(model, probe)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    sum(out.sum() for out in outputs).backward()
    for param in model.parameters():
        if param.requires_grad and param.grad is None:
            param.requires_grad_(False)
    model.zero_grad(set_to_none=True)


def open_relu(model: nn.Module) -> None:
    """Start a fresh relative head with a positive output bias.

    The relative head ends in ReLU; with a random last layer a small head can output ≤ 0 at every
    pixel, and then no gradient ever flows. A bias of 1 keeps the ReLU open at the start.
    """
    head = model.head if hasattr(model, "head") else model.depth_head  # a video model's head is `head`
    last_conv = [m for m in head.modules() if isinstance(m, nn.Conv2d)][-1]
    if last_conv.bias is not None:
        with torch.no_grad():
            last_conv.bias.fill_(1.0)


def build_train_model(config: TrainConfig) -> DepthAnything:
    """The configured network with its starting weights, ready for step 1 (on the CPU)."""
    section = config.model
    model = build_model(model_config_from(section))
    if section.init:
        load_init(model, section.init, section.init_encoder_only)
    if not model.config.is_metric and (not section.init or section.init_encoder_only):
        open_relu(model)
    freeze_unused(model)
    return model


def build_reference(config: TrainConfig, model: DepthAnything, device: torch.device) -> nn.Module | None:
    """Frozen encoder for feature alignment, only when some training data is pseudo-labeled."""
    wanted = (
        config.stage != "metric"
        and config.loss.feature_weight > 0
        and config.model.feature_reference != "none"
        and any(source.is_pseudo for source in config.data.train)
    )
    if not wanted:
        return None
    reference = copy.deepcopy(model.pretrained)  # the encoder only, never the head
    if config.model.feature_reference != "init":
        load_encoder(reference, config.model.feature_reference)
    return reference.requires_grad_(False).eval().to(device)


# ----------------------------------------------------------------------------------- optimisation
def build_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """AdamW with the encoder at `lr` and everything else (the decoder) at `lr × decoder_lr_scale`."""
    optim = config.optim
    encoder, decoder = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (encoder if name.startswith("pretrained.") else decoder).append(parameter)
    groups = [
        {"params": encoder, "lr": optim.lr, "name": "encoder"},
        {"params": decoder, "lr": optim.lr * optim.decoder_lr_scale, "name": "decoder"},
    ]
    return torch.optim.AdamW(groups, lr=optim.lr, betas=optim.betas, weight_decay=optim.weight_decay)


def amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """"auto": bf16 on GPUs that have it, else fp16, and full precision off the GPU; "bf16" and
    "fp16" apply on any device (CPU autocast too), which is also how the tests exercise them."""
    amp = config.optim.amp
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "fp16" or (amp == "auto" and not torch.cuda.is_bf16_supported()):
        return torch.float16
    return torch.bfloat16


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager[Any]:
    """Mixed precision in `dtype` on `device`; full precision when `dtype` is None."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device_type: str, enabled: bool) -> Any:
    """Loss scaling for fp16 (a no-op otherwise); torch.amp's class where this torch has it."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler(device_type, enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)  # torch < 2.3
