"""Small building blocks of the DINOv2 encoder; attribute names follow the official state dict."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _has_onednn_linear() -> bool:
    try:
        return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    except (AttributeError, RuntimeError):
        return False


HAS_ONEDNN_LINEAR = _has_onednn_linear()


def linear(layer: nn.Linear, x: torch.Tensor, gelu: bool = False) -> torch.Tensor:
    """`layer(x)`, then exact GELU if asked.

    For CPU inference in float32 this runs oneDNN's linear kernel (the one PyTorch's own compiler
    uses), with GELU fused into it: oneDNN picks AVX-512 code on every x86 processor, while the
    default BLAS (MKL) falls back to AVX2 paths on AMD ones; measured 1.5–2× faster per layer there,
    equal to rounding (same float32 maths, another summation order). Training, autocast, GPUs and
    export or compiler tracing take plain `F.linear`.
    """
    if (
        HAS_ONEDNN_LINEAR
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_grad_enabled()
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()
        and not torch.compiler.is_exporting()
        and not torch.jit.is_tracing()
    ):
        if gelu:
            return torch.ops.mkldnn._linear_pointwise(x, layer.weight, layer.bias, "gelu", [], "none")
        return torch.ops.mkldnn._linear_pointwise(x, layer.weight, layer.bias, "none", [], "")
    out = F.linear(x, layer.weight, layer.bias)
    return F.gelu(out) if gelu else out


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection: [B, 3, H, W] → [B, (H/p)·(W/p), D]."""

    def __init__(self, patch_size: int, embed_dim: int, in_chans: int = 3) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection, run by PyTorch's fused SDPA kernel."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = linear(self.qkv, x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return linear(self.proj, out.transpose(1, 2).reshape(batch, tokens, dim))


class Mlp(nn.Module):
    """Two-layer feed-forward with exact (erf) GELU, as in DINOv2 ViT-S/B/L."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(self.fc2, linear(self.fc1, x, gelu=True))


def swiglu_hidden_size(dim: int, mlp_ratio: float) -> int:
    """DINOv2's SwiGLU width: two thirds of the MLP width, rounded up to a multiple of 8."""
    return (int(int(dim * mlp_ratio) * 2 / 3) + 7) // 8 * 8


class SwiGLUFFN(nn.Module):
    """Gated feed-forward of ViT-g: w3(silu(a) · b) where [a, b] = w12(x)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = linear(self.w12, x).chunk(2, dim=-1)
        return linear(self.w3, F.silu(gate) * value)


class LayerScale(nn.Module):
    """Per-channel learnable residual scaling."""

    def __init__(self, dim: int, init_value: float = 1.0) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block with LayerScale on both residual branches."""

    def __init__(self, dim: int, num_heads: int, ffn: str, mlp_ratio: float, layerscale_init: float = 1.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.ls1 = LayerScale(dim, layerscale_init)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        if ffn == "mlp":
            self.mlp: nn.Module = Mlp(dim, int(dim * mlp_ratio))
        elif ffn == "swiglu":
            self.mlp = SwiGLUFFN(dim, swiglu_hidden_size(dim, mlp_ratio))
        else:
            raise ValueError(f"unknown feed-forward kind {ffn!r}; expected 'mlp' or 'swiglu'")
        self.ls2 = LayerScale(dim, layerscale_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))
