"""Tiny model configurations and randomised weights for tests (imported by name: `model_helpers`)."""

from __future__ import annotations

import torch

from depth_anything.models import ModelConfig


def tiny_config(**overrides) -> ModelConfig:
    """A 4-block, 32-wide model: every code path of the real sizes, a few thousand parameters."""
    values = dict(
        encoder="tiny", embed_dim=32, depth=4, num_heads=2, ffn="mlp", layer_indices=(0, 1, 2, 3),
        features=16, out_channels=(8, 16, 32, 32),
    )
    values.update(overrides)
    return ModelConfig(**values)


def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every parameter random values (LayerScale, biases, norms too) so no term can hide."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if name.endswith("gamma") or "norm" in name and name.endswith("weight"):
                param.copy_(1.0 + 0.2 * noise)
            else:
                param.copy_(noise * (0.5 / max(1, param[0].numel()) ** 0.5 if param.ndim > 1 else 0.1))
        # keep the last layer's output mostly above the final ReLU, so outputs are not all zero
        final_bias = dict(model.named_parameters()).get("depth_head.scratch.output_conv2.2.bias")
        if final_bias is not None:
            final_bias.fill_(0.3)
    return model
