"""DPT decoder head: reassemble ViT tokens at four scales, fuse them coarse-to-fine, regress depth."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ResidualConvUnit(nn.Module):
    """Pre-activation residual unit: x + conv(relu(conv(relu(x))))."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, kernel_size=3, padding=1, bias=True)
        self.conv2 = nn.Conv2d(features, features, kernel_size=3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The first ReLU must not act in place (x is also the skip); the second may, saving a map.
        return x + self.conv2(F.relu(self.conv1(F.relu(x)), inplace=True))


class FeatureFusionBlock(nn.Module):
    """Add the lateral feature (through a residual unit), refine, upsample, then a 1×1 projection.

    The projection runs before the upsampling: a 1×1 convolution and align-corners bilinear resizing
    commute (each output pixel is a convex combination of inputs, and the bias survives weights that
    sum to one), so the result equals the reference's order up to float rounding while the
    convolution touches 4× fewer pixels.
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)
        self.out_conv = nn.Conv2d(features, features, kernel_size=1, bias=True)

    def forward(
        self, x: torch.Tensor, lateral: torch.Tensor | None = None, size: Sequence[int] | None = None
    ) -> torch.Tensor:
        if lateral is not None:
            x = x + self.resConfUnit1(lateral)
        x = self.out_conv(self.resConfUnit2(x))
        if size is None:
            return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)
        return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)


class Scratch(nn.Module):
    """Container named as in the reference (`scratch.*`) so state-dict keys match."""

    def __init__(self, out_channels: Sequence[int], features: int, metric: bool) -> None:
        super().__init__()
        self.layer1_rn = nn.Conv2d(out_channels[0], features, kernel_size=3, padding=1, bias=False)
        self.layer2_rn = nn.Conv2d(out_channels[1], features, kernel_size=3, padding=1, bias=False)
        self.layer3_rn = nn.Conv2d(out_channels[2], features, kernel_size=3, padding=1, bias=False)
        self.layer4_rn = nn.Conv2d(out_channels[3], features, kernel_size=3, padding=1, bias=False)
        self.refinenet1 = FeatureFusionBlock(features)
        self.refinenet2 = FeatureFusionBlock(features)
        self.refinenet3 = FeatureFusionBlock(features)
        self.refinenet4 = FeatureFusionBlock(features)
        head_features = features // 2
        self.output_conv1 = nn.Conv2d(features, head_features, kernel_size=3, padding=1)
        self.output_conv2 = nn.Sequential(
            nn.Conv2d(head_features, 32, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 1, kernel_size=1),
            nn.Sigmoid() if metric else nn.ReLU(inplace=True),
        )


class DPTHead(nn.Module):
    """Decoder reading four (tokens, cls) pairs; returns [B, 1, p·h, p·w] (p the patch size) before the final activation scale."""

    def __init__(
        self, in_channels: int, features: int, out_channels: Sequence[int], metric: bool = False, patch_size: int = 14
    ) -> None:
        super().__init__()
        if len(out_channels) != 4:
            raise ValueError(f"out_channels needs 4 entries, got {list(out_channels)}")
        self.patch_size = patch_size
        self.projects = nn.ModuleList(nn.Conv2d(in_channels, c, kernel_size=1) for c in out_channels)
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(out_channels[0], out_channels[0], kernel_size=4, stride=4),
                nn.ConvTranspose2d(out_channels[1], out_channels[1], kernel_size=2, stride=2),
                nn.Identity(),
                nn.Conv2d(out_channels[3], out_channels[3], kernel_size=3, stride=2, padding=1),
            ]
        )
        self.scratch = Scratch(out_channels, features, metric)

    def forward(self, features: Sequence[tuple[torch.Tensor, torch.Tensor]], patch_h: int, patch_w: int) -> torch.Tensor:
        maps = self.reassemble(features, patch_h, patch_w)
        s = self.scratch
        path = s.refinenet4(maps[3], size=maps[2].shape[2:])
        path = s.refinenet3(path, maps[2], size=maps[1].shape[2:])
        return self.finish(path, maps[1], maps[0], patch_h, patch_w)

    # The stages below are shared with the temporal head (temporal.py), which runs motion modules
    # between them: after `project` on levels 3 and 4, and after refinenet4 and refinenet3.
    def project(
        self, features: Sequence[tuple[torch.Tensor, torch.Tensor]], patch_h: int, patch_w: int
    ) -> list[torch.Tensor]:
        """Tokens → four maps at 4×, 2×, 1×, ½× the patch grid, with `out_channels[i]` channels."""
        maps = []
        for i, (tokens, _cls) in enumerate(features):
            # [B, N, C] tokens viewed as a channels-last [B, C, h, w] map, with no copy: the head's
            # convolutions run about 1.4× faster in that layout on CPU, and every later map keeps it.
            x = tokens.reshape(tokens.shape[0], patch_h, patch_w, tokens.shape[-1]).permute(0, 3, 1, 2)
            maps.append(self.resize_layers[i](self.projects[i](x)))
        return maps

    def to_features(self, maps: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """`scratch.layer1_rn` … `layer4_rn`: each projected map to `features` channels."""
        s = self.scratch
        return [s.layer1_rn(maps[0]), s.layer2_rn(maps[1]), s.layer3_rn(maps[2]), s.layer4_rn(maps[3])]

    def reassemble(
        self, features: Sequence[tuple[torch.Tensor, torch.Tensor]], patch_h: int, patch_w: int
    ) -> list[torch.Tensor]:
        """Tokens → four maps at 4×, 2×, 1×, ½× the patch grid, each projected to `features` channels."""
        return self.to_features(self.project(features, patch_h, patch_w))

    def finish(
        self, path: torch.Tensor, lateral2: torch.Tensor, lateral1: torch.Tensor, patch_h: int, patch_w: int
    ) -> torch.Tensor:
        """refinenet2, refinenet1 and the output convolutions on refinenet3's map; frame by frame, so the
        temporal head can run it in micro-batches. Returns [B, 1, p·h, p·w], p the patch size."""
        s = self.scratch
        path = s.refinenet2(path, lateral2, size=lateral1.shape[2:])
        path = s.refinenet1(path, lateral1)
        out = s.output_conv1(path)
        del path  # the largest map so far; free it before the full-resolution stage
        out = F.interpolate(
            out, (patch_h * self.patch_size, patch_w * self.patch_size), mode="bilinear", align_corners=True
        )
        return s.output_conv2(out)
