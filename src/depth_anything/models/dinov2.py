"""DINOv2 vision transformer encoder, as used by Depth Anything (patch 14 and a 37×37 pre-training grid for
the published models; both are arguments, and the built-in models use patch 16 on an 8×8 grid)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Block, PatchEmbed


class DinoVisionTransformer(nn.Module):
    """ViT encoder: cls token + patch tokens, learned position table for a `grid × grid` patch grid.

    Only what Depth Anything needs: intermediate features for the DPT head. `mask_token` is unused at
    inference but kept so the published state dicts load strictly.
    """

    def __init__(
        self,
        embed_dim: int,
        depth: int,
        num_heads: int,
        ffn: str = "mlp",
        mlp_ratio: float = 4.0,
        patch_size: int = 14,
        pretrain_grid: int = 37,
        interpolate_offset: float = 0.1,
        init_weights: bool = True,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.patch_size = patch_size
        self.pretrain_grid = pretrain_grid
        self.interpolate_offset = interpolate_offset
        self.patch_embed = PatchEmbed(patch_size, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, pretrain_grid * pretrain_grid + 1, embed_dim))
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, ffn, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        if init_weights:  # skipped when weights are loaded next: truncated-normal draws cost start-up time
            self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def position_embedding(self, grid_h: int, grid_w: int, dtype: torch.dtype) -> torch.Tensor:
        """Position table for a grid_h × grid_w patch grid.

        Matches the reference exactly: unchanged for the pre-training grid, otherwise a bicubic resize
        (no antialias, align_corners=False) driven by the scale factor ((h+0.1)/G, (w+0.1)/G), G the
        pre-training grid, rather
        than a target size; PyTorch then samples with that scale, which is what the weights expect.
        """
        grid = self.pretrain_grid
        if grid_h == grid and grid_w == grid:
            return self.pos_embed.to(dtype)
        table = self.pos_embed.float()
        cls_pos, patch_pos = table[:, :1], table[:, 1:]
        patch_pos = patch_pos.reshape(1, grid, grid, -1).permute(0, 3, 1, 2)
        scale = ((grid_h + self.interpolate_offset) / grid, (grid_w + self.interpolate_offset) / grid)
        patch_pos = F.interpolate(patch_pos, scale_factor=scale, mode="bicubic", align_corners=False, antialias=False)
        if patch_pos.shape[-2:] != (grid_h, grid_w):  # guards the floor() in the scale-factor path
            raise RuntimeError(f"position table resized to {tuple(patch_pos.shape[-2:])}, expected {(grid_h, grid_w)}")
        patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, -1)
        return torch.cat((cls_pos, patch_pos), dim=1).to(dtype)

    def prepare_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Patch-embed, prepend the cls token, add position embeddings."""
        _, _, height, width = x.shape
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(f"input size {height}×{width} is not a multiple of the patch size {self.patch_size}")
        tokens = self.patch_embed(x)
        tokens = torch.cat((self.cls_token.expand(tokens.shape[0], -1, -1).to(tokens.dtype), tokens), dim=1)
        return tokens + self.position_embedding(height // self.patch_size, width // self.patch_size, tokens.dtype)

    def get_intermediate_layers(
        self, x: torch.Tensor, indices: Sequence[int]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(patch tokens, cls token) after the final norm, for each block index in `indices`."""
        wanted = set(indices)
        last = max(indices)
        tokens = self.prepare_tokens(x)
        collected: dict[int, torch.Tensor] = {}
        for index, block in enumerate(self.blocks):
            tokens = block(tokens)
            if index in wanted:
                collected[index] = tokens
            if index == last:
                break  # later blocks do not feed the head
        outputs = []
        for index in indices:
            normed = self.norm(collected[index])
            outputs.append((normed[:, 1:], normed[:, 0]))
        return outputs
