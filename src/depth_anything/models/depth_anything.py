"""The Depth Anything model (DINOv2 encoder + DPT head) and the registry of published sizes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .dinov2 import DinoVisionTransformer
from .dpt import DPTHead


@dataclass(frozen=True)
class ModelConfig:
    """Everything that decides the architecture; the published sizes are in `MODEL_CONFIGS`.

    `layer_indices` are the encoder blocks read by the head (V2: spread over the depth; V1: the last
    four). `max_depth` None means a relative (disparity-like) model, a number a metric model in metres.
    """

    encoder: str = "vits"
    embed_dim: int = 384
    depth: int = 12
    num_heads: int = 6
    ffn: str = "mlp"
    mlp_ratio: float = 4.0
    layer_indices: tuple[int, ...] = (2, 5, 8, 11)
    features: int = 64
    out_channels: tuple[int, ...] = (48, 96, 192, 384)
    max_depth: float | None = None
    patch_size: int = 14
    pretrain_grid: int = 37

    def __post_init__(self) -> None:
        object.__setattr__(self, "layer_indices", tuple(int(i) for i in self.layer_indices))
        object.__setattr__(self, "out_channels", tuple(int(c) for c in self.out_channels))
        if self.ffn not in ("mlp", "swiglu"):
            raise ConfigError(f"ffn must be 'mlp' or 'swiglu', got {self.ffn!r}")
        if self.embed_dim % self.num_heads:
            raise ConfigError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if len(self.layer_indices) != 4 or not all(0 <= i < self.depth for i in self.layer_indices):
            raise ConfigError(f"layer_indices must be 4 block indices below depth={self.depth}, got {self.layer_indices}")
        if len(self.out_channels) != 4:
            raise ConfigError(f"out_channels must have 4 entries, got {self.out_channels}")
        if self.max_depth is not None and not self.max_depth > 0:
            raise ConfigError(f"max_depth must be positive or None, got {self.max_depth}")

    @property
    def is_metric(self) -> bool:
        return self.max_depth is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Build from a dict (e.g. stored in a checkpoint), naming any unknown key."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown model config key(s): {', '.join(unknown)}")
        return cls(**values)


MODEL_CONFIGS: dict[str, ModelConfig] = {
    "vits": ModelConfig("vits", 384, 12, 6, "mlp", 4.0, (2, 5, 8, 11), 64, (48, 96, 192, 384)),
    "vitb": ModelConfig("vitb", 768, 12, 12, "mlp", 4.0, (2, 5, 8, 11), 128, (96, 192, 384, 768)),
    "vitl": ModelConfig("vitl", 1024, 24, 16, "mlp", 4.0, (4, 11, 17, 23), 256, (256, 512, 1024, 1024)),
    "vitg": ModelConfig("vitg", 1536, 40, 24, "swiglu", 4.0, (9, 19, 29, 39), 384, (1536, 1536, 1536, 1536)),
}


def model_config(encoder: str, max_depth: float | None = None, version: int = 2) -> ModelConfig:
    """Configuration of a published size; `version=1` reads the last four blocks as Depth Anything V1 does."""
    if encoder not in MODEL_CONFIGS:
        raise ConfigError(f"unknown encoder {encoder!r}; choose one of {', '.join(MODEL_CONFIGS)}")
    if version not in (1, 2):
        raise ConfigError(f"version must be 1 or 2, got {version}")
    config = replace(MODEL_CONFIGS[encoder], max_depth=max_depth)
    if version == 1:
        config = replace(config, layer_indices=tuple(range(config.depth - 4, config.depth)))
    return config


class DepthAnything(nn.Module):
    """Depth Anything V1/V2: `model(x)` maps normalised [B, 3, H, W] (H, W multiples of 14) to [B, H, W].

    Relative models output affine-invariant disparity (larger = nearer); metric models output metres
    in (0, max_depth).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.pretrained = DinoVisionTransformer(
            config.embed_dim, config.depth, config.num_heads, config.ffn, config.mlp_ratio,
            config.patch_size, config.pretrain_grid,
        )
        self.depth_head = DPTHead(
            config.embed_dim, config.features, config.out_channels, metric=config.is_metric, patch_size=config.patch_size
        )

    def encode(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The (patch tokens [B, N, D], cls token [B, D]) pairs the head reads."""
        return self.pretrained.get_intermediate_layers(x, self.config.layer_indices)

    def decode(self, features: list[tuple[torch.Tensor, torch.Tensor]], patch_h: int, patch_w: int) -> torch.Tensor:
        """Head output scaled to the model's kind: [B, 14·patch_h, 14·patch_w]."""
        out = self.depth_head(features, patch_h, patch_w)
        if self.config.max_depth is not None:
            out = out * self.config.max_depth
        else:
            out = F.relu(out)
        return out.squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patch = self.config.patch_size
        return self.decode(self.encode(x), x.shape[-2] // patch, x.shape[-1] // patch)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """torch's loading, plus: transformers-layout keys are converted, and weights of another size
        fail with a message naming both sizes instead of a wall of shape mismatches."""
        from ..weights import check_state_dict  # weights.py imports this module

        return super().load_state_dict(check_state_dict(self, state_dict, "the state dict"), strict=strict, assign=assign)

    @torch.inference_mode()
    def infer_image(self, bgr_image: np.ndarray, input_size: int = 518) -> np.ndarray:
        """Predict depth for one BGR uint8 image (OpenCV's order) at its own size, as the official API does."""
        from ..transforms import preprocess, resize_depth

        if not isinstance(bgr_image, np.ndarray) or bgr_image.ndim != 3 or bgr_image.shape[2] != 3:
            shape = getattr(bgr_image, "shape", None)
            raise ValueError(f"infer_image expects an H×W×3 BGR array, got {type(bgr_image).__name__} of shape {shape}")
        parameter = next(self.parameters())
        x = torch.from_numpy(preprocess(bgr_image[:, :, ::-1], input_size))[None]
        depth = self(x.to(device=parameter.device, dtype=parameter.dtype))
        return resize_depth(depth.float(), bgr_image.shape[:2])[0].cpu().numpy()

    def extra_repr(self) -> str:
        kind = f"metric, max_depth={self.config.max_depth}" if self.config.is_metric else "relative"
        return f"encoder={self.config.encoder}, {kind}"


def build_model(
    encoder: str | ModelConfig = "vits", max_depth: float | None = None, version: int = 2
) -> DepthAnything:
    """A randomly initialised model whose state dict has the official keys and shapes.

    `encoder` is "vits", "vitb", "vitl", "vitg" or a `ModelConfig`; `max_depth` makes it metric
    (20 for indoor, 80 for outdoor models); `version=1` builds the V1 layout (last four blocks).
    """
    if isinstance(encoder, ModelConfig):
        config = encoder if max_depth is None else replace(encoder, max_depth=max_depth)
    else:
        config = model_config(encoder, max_depth, version)
    return DepthAnything(config)


__all__ = ["DepthAnything", "ModelConfig", "MODEL_CONFIGS", "build_model", "model_config"]
