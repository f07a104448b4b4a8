"""Architecture configuration and the registry of sizes (one place: build, load, train and export read it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from ..errors import ConfigError
from ..transforms import InputSpec
from ..typed_config import build_dataclass


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
        return build_dataclass(cls, dict(values), "model_config")


MODEL_CONFIGS: dict[str, ModelConfig] = {
    "vits": ModelConfig("vits", 384, 12, 6, "mlp", 4.0, (2, 5, 8, 11), 64, (48, 96, 192, 384)),
    "vitb": ModelConfig("vitb", 768, 12, 12, "mlp", 4.0, (2, 5, 8, 11), 128, (96, 192, 384, 768)),
    "vitl": ModelConfig("vitl", 1024, 24, 16, "mlp", 4.0, (4, 11, 17, 23), 256, (256, 512, 1024, 1024)),
    "vitg": ModelConfig("vitg", 1536, 40, 24, "swiglu", 4.0, (9, 19, 29, 39), 384, (1536, 1536, 1536, 1536)),
    # The compact size of the built-in default models: patch 16 on an 8×8 grid (128 px), chosen over a
    # patch-14 width-192 candidate by held-out score at equal CPU time (README, "The default model").
    "vitc": ModelConfig("vitc", 256, 8, 4, "mlp", 4.0, (1, 3, 5, 7), 48, (48, 96, 192, 256), patch_size=16, pretrain_grid=8),
}


# Video Depth Anything's metric models: the nominal range (the depth cap of the official KITTI evaluation),
# for the input spec and output ranges only: unlike Depth Anything V2's metric head, that network ends in a
# ReLU and never clips.
VIDEO_METRIC_MAX_DEPTH = 80.0
# Frames Video Depth Anything's temporal position table covers: the published models' window.
TEMPORAL_WINDOW = 32


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


def default_input_spec(config: ModelConfig) -> InputSpec:
    """The input spec a model of `config` is trained for: its pre-training grid × patch size (518 for the
    published sizes), ImageNet statistics, and the output kind of its head."""
    return InputSpec(
        input_size=config.pretrain_grid * config.patch_size,
        size_multiple=config.patch_size,
        output="metric" if config.is_metric else "disparity",
        max_depth=config.max_depth,
    )
