"""Exactness against an independent implementation: Hugging Face transformers, same random weights."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from model_helpers import randomize_, tiny_config

from depth_anything import build_model
from depth_anything.models.convert import (
    config_from_transformers,
    official_to_transformers,
    transformers_config,
    transformers_to_official,
)
from depth_anything.weights import save_transformers

transformers = pytest.importorskip("transformers")

CASES = {
    "relative": tiny_config(),
    "metric": tiny_config(max_depth=20.0),
    "swiglu": tiny_config(ffn="swiglu", embed_dim=48, num_heads=3, out_channels=(12, 24, 48, 48), layer_indices=(0, 1, 3, 5), depth=6),
}


def _transformers_model(model, folder):
    save_transformers(model, folder)
    hf, info = transformers.DepthAnythingForDepthEstimation.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    return hf.eval()


@pytest.mark.parametrize("kind", CASES)
def test_outputs_match_transformers_at_518(kind, tmp_path):
    model = randomize_(build_model(CASES[kind]), seed=1).eval()
    hf = _transformers_model(model, tmp_path)
    x = torch.randn(2, 3, 518, 518, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = model(x)
        theirs = hf(pixel_values=x).predicted_depth
    assert ours.shape == theirs.shape == (2, 518, 518)
    assert ours.abs().max() > 1e-3  # a dead network would match trivially
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)
    if CASES[kind].is_metric:
        assert float(ours.max()) <= 20.0 and float(ours.min()) >= 0.0


@pytest.mark.parametrize("kind", CASES)
def test_keys_convert_both_ways(kind, tmp_path):
    model = randomize_(build_model(CASES[kind]), seed=3)
    hf = _transformers_model(model, tmp_path)
    # transformers' in-memory names (5.x renames, split SwiGLU) back to the official layout
    back = transformers_to_official(hf.state_dict())
    assert set(back) == set(model.state_dict())
    for key, value in model.state_dict().items():
        torch.testing.assert_close(back[key], value, rtol=0, atol=0, msg=key)
    # and the file layout round-trips exactly
    again = transformers_to_official(official_to_transformers(model.state_dict()))
    assert all(torch.equal(again[k], v) for k, v in model.state_dict().items())
    assert config_from_transformers(transformers_config(model.config)) == model.config.__class__(
        **{**model.config.to_dict(), "encoder": config_from_transformers(transformers_config(model.config)).encoder}
    )


def reference_position_embedding(pos_embed: torch.Tensor, grid_h: int, grid_w: int) -> torch.Tensor:
    """The reference rule, written out independently: scale factor ((h+0.1)/√N, (w+0.1)/√N), bicubic."""
    n = pos_embed.shape[1] - 1
    side = int(math.sqrt(n))
    if n == grid_h * grid_w and grid_h == grid_w:
        return pos_embed
    patch = pos_embed[:, 1:].float().reshape(1, side, side, -1).permute(0, 3, 1, 2)
    patch = F.interpolate(
        patch, scale_factor=((grid_h + 0.1) / math.sqrt(n), (grid_w + 0.1) / math.sqrt(n)), mode="bicubic", antialias=False
    )
    return torch.cat([pos_embed[:, :1], patch.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, -1)], dim=1)


@pytest.mark.parametrize("grid", [(10, 14), (37, 37), (40, 40), (20, 37), (5, 3)])
def test_position_embedding_follows_reference_rule(grid):
    model = randomize_(build_model(tiny_config()), seed=4)
    ours = model.pretrained.position_embedding(*grid, torch.float32)
    torch.testing.assert_close(ours, reference_position_embedding(model.pretrained.pos_embed, *grid), rtol=0, atol=0)
    if grid != (37, 37):  # the +0.1 offset matters: a plain size-based resize gives other numbers
        table = model.pretrained.pos_embed[:, 1:].reshape(1, 37, 37, -1).permute(0, 3, 1, 2)
        by_size = F.interpolate(table, size=grid, mode="bicubic", align_corners=False)
        assert (ours[:, 1:] - by_size.permute(0, 2, 3, 1).reshape(1, -1, table.shape[1])).abs().max() > 1e-4


def test_whole_model_matches_transformers_off_grid_with_reference_rule(tmp_path, monkeypatch):
    """At 140×196 transformers resizes by size; patched to the reference rule it must agree with us."""
    model = randomize_(build_model(tiny_config()), seed=5).eval()
    hf = _transformers_model(model, tmp_path)
    embeddings = hf.backbone.embeddings

    def reference_rule(tokens, height, width):
        return reference_position_embedding(embeddings.position_embeddings, height // 14, width // 14)

    x = torch.randn(1, 3, 140, 196, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        unpatched = hf(pixel_values=x).predicted_depth
        monkeypatch.setattr(embeddings, "interpolate_pos_encoding", reference_rule)
        patched = hf(pixel_values=x).predicted_depth
        ours = model(x)
    torch.testing.assert_close(ours, patched, atol=1e-4, rtol=1e-4)
    assert (ours - unpatched).abs().max() > 1e-5  # the known difference of transformers off the 37×37 grid
