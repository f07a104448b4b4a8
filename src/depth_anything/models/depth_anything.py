"""The Depth Anything model: DINOv2 encoder + DPT head, built from a `ModelConfig`."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..transforms import InputSpec, preprocess, resize_depth
from .config import ModelConfig, default_input_spec, model_config
from .dinov2 import DinoVisionTransformer
from .dpt import DPTHead


class DepthAnything(nn.Module):
    """Depth Anything V1/V2: `model(x)` maps normalised [B, 3, H, W] (H, W multiples of the patch size)
    to [B, H, W].

    Relative models output affine-invariant disparity (larger = nearer); metric models output metres
    in (0, max_depth). `input_spec` says how images are prepared for it: the default follows the
    config, and `load_model` sets the one stored with the weights.
    """

    def __init__(self, config: ModelConfig, input_spec: InputSpec | None = None, init_weights: bool = True) -> None:
        super().__init__()
        self.config = config
        self.input_spec = input_spec or default_input_spec(config)
        self.pretrained = DinoVisionTransformer(
            config.embed_dim, config.depth, config.num_heads, config.ffn, config.mlp_ratio,
            config.patch_size, config.pretrain_grid, init_weights=init_weights,
        )
        self.depth_head = DPTHead(
            config.embed_dim, config.features, config.out_channels, metric=config.is_metric, patch_size=config.patch_size
        )

    def encode(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The (patch tokens [B, N, D], cls token [B, D]) pairs the head reads."""
        return self.pretrained.get_intermediate_layers(x, self.config.layer_indices)

    def decode(self, features: list[tuple[torch.Tensor, torch.Tensor]], patch_h: int, patch_w: int) -> torch.Tensor:
        """Head output scaled to the model's kind: [B, p·patch_h, p·patch_w], p the patch size."""
        out = self.depth_head(features, patch_h, patch_w)
        if self.config.max_depth is not None:
            out = out * self.config.max_depth
        else:
            out = F.relu(out)
        return out.squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patch = self.config.patch_size
        return self.decode(self.encode(x), x.shape[-2] // patch, x.shape[-1] // patch)

    @torch.inference_mode()
    def infer_image(self, bgr_image: np.ndarray, input_size: int | None = None) -> np.ndarray:
        """Predict depth for one BGR uint8 image (OpenCV's order) at its own size, as the official API does.

        `input_size` overrides the default of the model's input spec (518 for the published weights).
        """
        if not isinstance(bgr_image, np.ndarray) or bgr_image.ndim != 3 or bgr_image.shape[2] != 3:
            shape = getattr(bgr_image, "shape", None)
            raise ValueError(f"infer_image expects an H×W×3 BGR array, got {type(bgr_image).__name__} of shape {shape}")
        parameter = next(self.parameters())
        x = torch.from_numpy(preprocess(bgr_image[:, :, ::-1], self.input_spec.with_input_size(input_size)))[None]
        depth = self(x.to(device=parameter.device, dtype=parameter.dtype))
        return resize_depth(depth.float(), bgr_image.shape[:2])[0].cpu().numpy()

    def extra_repr(self) -> str:
        kind = f"metric, max_depth={self.config.max_depth}" if self.config.is_metric else "relative"
        return f"encoder={self.config.encoder}, {kind}"


def build_model(
    encoder: str | ModelConfig = "vits", max_depth: float | None = None, version: int = 2, *, init_weights: bool = True
) -> DepthAnything:
    """A randomly initialised model whose state dict has the official keys and shapes.

    `encoder` is "vits", "vitb", "vitl", "vitg" or a `ModelConfig`; `max_depth` makes it metric
    (20 for indoor, 80 for outdoor models); `version=1` builds the V1 layout (last four blocks).
    `init_weights=False` skips the encoder's truncated-normal initialisation, for weights about to
    be loaded (most of the cost of building a model).
    """
    if isinstance(encoder, ModelConfig):
        config = encoder if max_depth is None else replace(encoder, max_depth=max_depth)
    else:
        config = model_config(encoder, max_depth, version)
    return DepthAnything(config, init_weights=init_weights)


__all__ = ["DepthAnything", "build_model"]
