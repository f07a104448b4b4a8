"""Temporal layers of Video Depth Anything: motion modules (attention across frames at each pixel) and
the DPT head that runs four of them between its stages.

Attribute names follow the official state dict (`motion_modules.N.temporal_transformer.…`), so the
published files load strictly. Inside a motion module every pixel of every level is one sequence over
the frames: the maps [B·T, C, h, w] become [B·h·w, T, C] once, the whole transformer runs on that
layout, and the result goes back once.

Streaming (one frame at a time) passes `past`: for each attention layer, the inputs it saw for earlier
frames (after its LayerNorm, before the position table), [B·h·w, M, C]. The current frame then attends
over those M entries and itself, with positions 0 … M counted over the concatenation, and its own
inputs come back to be cached.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .config import TEMPORAL_WINDOW
from .dpt import DPTHead
from .layers import linear

TEMPORAL_HEADS = 8
ATTENTION_LAYERS = 2  # temporal self-attention layers per motion module (one transformer block of two)


def sinusoid_table(length: int, dim: int) -> torch.Tensor:
    """[1, length, dim] fixed position table: sin on even channels, cos on odd ones, base 10000.

    Computed in float32 in the order the reference uses, so it equals the buffer stored in the
    published checkpoints up to the rounding of sin/cos (torch's vector kernels differ by up to 1e-6
    between AVX2 and AVX-512 processors; the checkpoints' own buffer is what loads).
    """
    if dim % 2:
        raise ValueError(f"the temporal position table needs an even width, got {dim}")
    frequencies = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    angles = torch.arange(length).unsqueeze(1) * frequencies
    table = torch.zeros(1, length, dim)
    table[0, :, 0::2] = torch.sin(angles)
    table[0, :, 1::2] = torch.cos(angles)
    return table


class PositionTable(nn.Module):
    """Holds the fixed table as the buffer `pe`: the checkpoints store it, so strict loading needs it."""

    def __init__(self, dim: int, length: int = TEMPORAL_WINDOW) -> None:
        super().__init__()
        self.register_buffer("pe", sinusoid_table(length, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.pe.shape[1]:
            raise ValueError(
                f"temporal attention over {x.shape[1]} frames, but the position table covers {self.pe.shape[1]}"
            )
        return x + self.pe[:, : x.shape[1]].to(x.dtype)


class TemporalAttention(nn.Module):
    """Self-attention across frames: position table added first, q/k/v without bias, 8 heads."""

    def __init__(self, dim: int, heads: int = TEMPORAL_HEADS, window: int = TEMPORAL_WINDOW) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"temporal attention width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])  # `to_out.0`, as the reference's (linear, dropout)
        self.pos_encoder = PositionTable(dim, window)

    def forward(self, x: torch.Tensor, past: torch.Tensor | None = None) -> torch.Tensor:
        """x: [S, T, C] sequences (one per pixel); past: [S, M, C] earlier inputs to attend over too."""
        seen = 0 if past is None else past.shape[1]
        sequence = self.pos_encoder(x if past is None else torch.cat((past, x), dim=1))
        query = sequence[:, seen:] if seen else sequence
        count, length, dim = sequence.shape
        head_dim = dim // self.heads

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(count, t.shape[1], self.heads, head_dim).transpose(1, 2)

        q = heads(linear(self.to_q, query))
        k = heads(linear(self.to_k, sequence))
        v = heads(linear(self.to_v, sequence))
        out = F.scaled_dot_product_attention(q, k, v)  # scale 1/√head_dim, as the reference
        out = out.transpose(1, 2).reshape(count, query.shape[1], dim)
        return linear(self.to_out[0], out)


class GEGLU(nn.Module):
    """One projection to 2·hidden, split into (a, b); returns a · GELU(b) with exact (erf) GELU."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, hidden * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = linear(self.proj, x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    """GEGLU feed-forward, 4× wide; `net.0`/`net.2` as in the checkpoints (`net.1` was a dropout)."""

    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * mult), nn.Identity(), nn.Linear(dim * mult, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(self.net[2], self.net[0](x))


class TemporalBlock(nn.Module):
    """Two pre-norm residual temporal attention layers, then a pre-norm residual GEGLU feed-forward."""

    def __init__(self, dim: int, heads: int = TEMPORAL_HEADS, window: int = TEMPORAL_WINDOW) -> None:
        super().__init__()
        self.attention_blocks = nn.ModuleList(TemporalAttention(dim, heads, window) for _ in range(ATTENTION_LAYERS))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(ATTENTION_LAYERS))
        self.ff = FeedForward(dim)
        self.ff_norm = nn.LayerNorm(dim)

    def forward(
        self, x: torch.Tensor, past: Sequence[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Returns the output and each attention layer's input (after its norm), the streaming cache."""
        inputs = []
        for i, (attention, norm) in enumerate(zip(self.attention_blocks, self.norms, strict=True)):
            normed = norm(x)
            inputs.append(normed)
            x = x + attention(normed, None if past is None else past[i])
        return x + self.ff(self.ff_norm(x)), inputs


class TemporalTransformer(nn.Module):
    """GroupNorm (32 groups, eps 1e-6) per frame, per-pixel sequences over T, proj_in, block, proj_out.

    Widths that 32 does not divide (the built-in compact model's 48-channel fusion maps) get
    gcd(32, width) groups; every published width is a multiple of 32, so they keep 32.
    """

    def __init__(self, channels: int, heads: int = TEMPORAL_HEADS, window: int = TEMPORAL_WINDOW, groups: int = 32) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(math.gcd(groups, channels), channels, eps=1e-6, affine=True)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList([TemporalBlock(channels, heads, window)])
        self.proj_out = nn.Linear(channels, channels)

    def forward(
        self, x: torch.Tensor, frames: int, past: Sequence[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x: [B·T, C, h, w] maps, frames = T; returns x + the temporal update and the attention inputs."""
        batch_frames, channels, height, width = x.shape
        if batch_frames % frames:
            raise ValueError(f"{batch_frames} maps do not split into clips of {frames} frames")
        batch = batch_frames // frames
        y = self.norm(x).reshape(batch, frames, channels, height, width)
        y = y.permute(0, 3, 4, 1, 2).reshape(batch * height * width, frames, channels)
        y = linear(self.proj_in, y)
        inputs: list[torch.Tensor] = []
        per_block = len(past) // len(self.transformer_blocks) if past is not None else 0
        for i, block in enumerate(self.transformer_blocks):
            y, block_inputs = block(y, past[i * per_block : (i + 1) * per_block] if past is not None else None)
            inputs.extend(block_inputs)
        y = linear(self.proj_out, y)
        y = y.reshape(batch, height, width, frames, channels).permute(0, 3, 4, 1, 2)
        return x + y.reshape(batch_frames, channels, height, width), inputs


class TemporalModule(nn.Module):
    """A residual motion module; wraps the transformer under the checkpoints' name `temporal_transformer`."""

    def __init__(self, channels: int, heads: int = TEMPORAL_HEADS, window: int = TEMPORAL_WINDOW) -> None:
        super().__init__()
        self.temporal_transformer = TemporalTransformer(channels, heads, window)

    def forward(
        self, x: torch.Tensor, frames: int, past: Sequence[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.temporal_transformer(x, frames, past)


class TemporalDPTHead(DPTHead):
    """The DPT head with motion modules on the projected levels 3 and 4 and after refinenet4 and 3.

    `forward` returns the head's map [B·T, 1, 14·h, 14·w] (before the model's final resize and ReLU) and
    the attention inputs of every layer of the four modules, in order (the streaming cache of a frame).
    """

    def __init__(
        self, in_channels: int, features: int, out_channels: Sequence[int], patch_size: int = 14,
        window: int = TEMPORAL_WINDOW,
    ) -> None:
        super().__init__(in_channels, features, out_channels, metric=False, patch_size=patch_size)
        self.motion_modules = nn.ModuleList(
            TemporalModule(channels, window=window)
            for channels in (out_channels[2], out_channels[3], features, features)
        )

    def forward(  # type: ignore[override]
        self,
        features: Sequence[tuple[torch.Tensor, torch.Tensor]],
        patch_h: int,
        patch_w: int,
        frames: int,
        past: Sequence[torch.Tensor] | None = None,
        micro_batch: int = 4,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """`past`: for streaming, the earlier frames' attention inputs of every layer (as returned, each
        concatenated over the frames); `micro_batch` frames at a time run the per-frame tail (0: all)."""
        per_module = len(past) // len(self.motion_modules) if past is not None else 0

        def module(index: int, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
            cached = past[index * per_module : (index + 1) * per_module] if past is not None else None
            return self.motion_modules[index](x, frames, cached)

        maps = self.project(features, patch_h, patch_w)
        maps[2], inputs0 = module(0, maps[2])
        maps[3], inputs1 = module(1, maps[3])
        layer1, layer2, layer3, layer4 = self.to_features(maps)
        del maps
        s = self.scratch
        path, inputs2 = module(2, s.refinenet4(layer4, size=layer3.shape[2:]))
        path, inputs3 = module(3, s.refinenet3(path, layer3, size=layer2.shape[2:]))
        count = path.shape[0]
        if micro_batch <= 0 or count <= micro_batch:
            out = self.finish(path, layer2, layer1, patch_h, patch_w)
        else:  # the tail works frame by frame; micro-batches bound its full-resolution maps
            out = torch.cat(
                [
                    self.finish(path[i : i + micro_batch], layer2[i : i + micro_batch], layer1[i : i + micro_batch],
                                patch_h, patch_w)
                    for i in range(0, count, micro_batch)
                ]
            )
        return out, inputs0 + inputs1 + inputs2 + inputs3


__all__ = [
    "TEMPORAL_WINDOW", "FeedForward", "GEGLU", "PositionTable", "TemporalAttention", "TemporalBlock",
    "TemporalDPTHead", "TemporalModule", "TemporalTransformer", "sinusoid_table",
]
