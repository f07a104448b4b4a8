"""Registry-driven model tests, as timm's are: every size in `MODEL_CONFIGS` is tested automatically.

Each registered size is shrunk to tiny widths while keeping its structure (depth, the blocks the head
reads, FFN kind, the ratios of the DPT widths), so forward and backward stay fast; the published size
itself is built on the meta device to check that the tiny model has exactly its key layout.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from model_helpers import randomize_

from depth_anything import build_model
from depth_anything.models import MODEL_CONFIGS, ModelConfig

SIZES = sorted(MODEL_CONFIGS)
TINY_DIM = 32


def tiny_version(config: ModelConfig) -> ModelConfig:
    """`config` at width 32 with 2 heads; DPT widths scaled by the same factor (even, at least 2)."""
    factor = TINY_DIM / config.embed_dim

    def shrink(value: int) -> int:
        return max(2, 2 * round(value * factor / 2))

    return replace(
        config, embed_dim=TINY_DIM, num_heads=2, features=shrink(config.features),
        out_channels=tuple(shrink(c) for c in config.out_channels),
    )


@pytest.fixture(scope="module", params=SIZES)
def size(request):
    return request.param


@pytest.fixture(scope="module")
def tiny_model(size):
    torch.manual_seed(0)
    return randomize_(build_model(tiny_version(MODEL_CONFIGS[size])), seed=1)


def test_registry_entries_are_consistent(size):
    config = MODEL_CONFIGS[size]
    assert config.encoder == size
    assert config.embed_dim % config.num_heads == 0
    assert len(config.layer_indices) == 4 and list(config.layer_indices) == sorted(set(config.layer_indices))
    assert config.layer_indices[-1] < config.depth
    assert len(config.out_channels) == 4 and config.max_depth is None


@pytest.mark.parametrize("max_depth", [None, 20.0])
def test_forward_shape(size, max_depth):
    config = tiny_version(MODEL_CONFIGS[size])
    model = randomize_(build_model(config, max_depth=max_depth), seed=2).eval()
    h, w = 2 * config.patch_size, 3 * config.patch_size  # sizes follow each size's own patch
    x = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, h, w)
    assert torch.isfinite(out).all() and out.min() >= 0
    if max_depth is not None:
        assert out.max() <= max_depth


def test_backward_reaches_encoder_and_head(tiny_model):
    model = tiny_model.train()
    model.zero_grad(set_to_none=True)
    side = 2 * model.config.patch_size
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(4))
    out = model(x)
    assert out.shape == (2, side, side)
    (out ** 2).mean().backward()
    params = dict(model.named_parameters())
    depth = model.config.depth
    must_have_grad = [
        "pretrained.patch_embed.proj.weight", "pretrained.pos_embed", "pretrained.cls_token",
        "pretrained.norm.weight", f"pretrained.blocks.{depth - 1}.mlp." + ("fc2.weight" if model.config.ffn == "mlp" else "w3.weight"),
        "pretrained.blocks.0.attn.qkv.weight", "pretrained.blocks.0.ls1.gamma",
        *(f"depth_head.projects.{i}.weight" for i in range(4)),
        "depth_head.resize_layers.0.weight", "depth_head.resize_layers.3.weight",
        "depth_head.scratch.refinenet1.out_conv.weight", "depth_head.scratch.output_conv1.weight",
        "depth_head.scratch.output_conv2.2.weight",
    ]
    for name in must_have_grad:
        grad = params[name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, f"no gradient at {name}"
    # every block up to the deepest one the head reads takes part
    for i in range(max(model.config.layer_indices) + 1):
        grad = params[f"pretrained.blocks.{i}.attn.proj.weight"].grad
        assert grad is not None and grad.abs().sum() > 0, f"block {i} gets no gradient"
    model.zero_grad(set_to_none=True)
    model.eval()


def test_state_dict_matches_a_model_built_from_the_same_config(size, tiny_model):
    config = tiny_model.config
    twin = build_model(config)
    ours = {k: tuple(v.shape) for k, v in tiny_model.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in twin.state_dict().items()} == ours
    twin.load_state_dict(tiny_model.state_dict(), strict=True)
    side = 2 * config.patch_size
    x = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(twin.eval()(x), tiny_model.eval()(x), atol=0, rtol=0)
    # the shrunken model keeps the structure: the published size has exactly the same keys
    with torch.device("meta"):
        published = build_model(size)
    assert set(published.state_dict()) == set(ours)
    assert published.config == MODEL_CONFIGS[size]
    # and a metric model of the same config has the same layout
    metric = build_model(config, max_depth=80.0)
    assert {k: tuple(v.shape) for k, v in metric.state_dict().items()} == ours
