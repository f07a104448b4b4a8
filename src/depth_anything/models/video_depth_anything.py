"""Video Depth Anything (arXiv 2501.12375): the DINOv2 encoder of Depth Anything V2 and a DPT head with
temporal motion modules, predicting a clip of frames together.

The state dict has the official layout (`pretrained.` encoder, `head.` temporal head), so the published
`video_depth_anything_*.pth` and `metric_video_depth_anything_*.pth` files load with plain strict
`load_state_dict`. Relative and metric models share the architecture (both end in a ReLU; the metric
ones predict metres); `metric` only changes how windows are joined in inference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..transforms import InputSpec
from .config import VIDEO_METRIC_MAX_DEPTH, ModelConfig, default_input_spec, model_config
from .dinov2 import DinoVisionTransformer
from .temporal import TEMPORAL_WINDOW, TemporalDPTHead

VIDEO_ENCODERS = ("vits", "vitb", "vitl")  # the published sizes


def video_config(encoder: str = "vits", metric: bool = False) -> ModelConfig:
    """Configuration of a published VDA size (the DA V2 sizes' encoder and head widths)."""
    if encoder not in VIDEO_ENCODERS:
        raise ValueError(f"Video Depth Anything has no {encoder!r} size; choose one of {', '.join(VIDEO_ENCODERS)}")
    return model_config(encoder, VIDEO_METRIC_MAX_DEPTH if metric else None)


class VideoDepthAnything(nn.Module):
    """`model(x)` maps normalised clips [B, T, 3, H, W] (H, W multiples of 14, T ≤ 32) to depth [B, T, H, W].

    Relative models output affine-invariant disparity, metric models metres (`config.max_depth` set,
    as a nominal range only). Windowed and streaming inference over whole videos live in
    `depth_anything.inference.video_windows`.
    """

    def __init__(
        self, config: ModelConfig, input_spec: InputSpec | None = None, init_weights: bool = True,
        window: int = TEMPORAL_WINDOW,
    ) -> None:
        super().__init__()
        self.config = config
        self.input_spec = input_spec or default_input_spec(config)
        self.window = window
        self.pretrained = DinoVisionTransformer(
            config.embed_dim, config.depth, config.num_heads, config.ffn, config.mlp_ratio,
            config.patch_size, config.pretrain_grid, init_weights=init_weights,
        )
        self.head = TemporalDPTHead(
            config.embed_dim, config.features, config.out_channels, patch_size=config.patch_size, window=window
        )

    @property
    def metric(self) -> bool:
        return self.config.is_metric

    def encode(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Encoder features of frames [N, 3, H, W] (all frames of all clips as one batch)."""
        return self.pretrained.get_intermediate_layers(x, self.config.layer_indices)

    def decode(
        self,
        features: list[tuple[torch.Tensor, torch.Tensor]],
        frames: int,
        size: tuple[int, int],
        past: list[torch.Tensor] | None = None,
        micro_batch: int = 4,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Depth [B, T, H, W] of the encoded frames (clips of `frames`) at input size `size` = (H, W), and
        the attention inputs to cache for streaming; `past` holds earlier frames' (see temporal.py)."""
        height, width = size
        patch = self.config.patch_size
        out, inputs = self.head(features, height // patch, width // patch, frames, past, micro_batch)
        if out.shape[-2:] != (height, width):  # same size: align-corners resizing is the identity
            out = F.interpolate(out, size=(height, width), mode="bilinear", align_corners=True)
        depth = F.relu(out).squeeze(1)
        return depth.unflatten(0, (depth.shape[0] // frames, frames)), inputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[2] != 3:
            raise ValueError(f"VideoDepthAnything expects clips [B, T, 3, H, W], got shape {tuple(x.shape)}")
        batch, frames, _, height, width = x.shape
        if frames > self.window:
            raise ValueError(f"a clip of {frames} frames is longer than the temporal window ({self.window})")
        return self.decode(self.encode(x.flatten(0, 1)), frames, (height, width))[0]

    def extra_repr(self) -> str:
        kind = "metric" if self.metric else "relative"
        return f"encoder={self.config.encoder}, {kind}, window={self.window}"


def build_video_model(
    encoder: str | ModelConfig = "vits", metric: bool = False, *, init_weights: bool = True
) -> VideoDepthAnything:
    """A randomly initialised VDA model whose state dict has the official keys and shapes.

    `encoder` is "vits", "vitb", "vitl" or a `ModelConfig` (e.g. from `infer_video_config`);
    `metric` marks a metric model (ignored for a config, which says so itself).
    """
    if isinstance(encoder, ModelConfig):
        config = encoder
    else:
        config = video_config(encoder, metric)
    return VideoDepthAnything(config, init_weights=init_weights)


__all__ = ["VIDEO_ENCODERS", "VIDEO_METRIC_MAX_DEPTH", "VideoDepthAnything", "build_video_model", "video_config"]
