"""Facts of the reference model (MODEL_SPEC.md) that the parity tests cannot see.

- LayerNorm eps 1e-6 everywhere in the encoder: checked on every registered size (meta device), by a
  hand computation on inputs of tiny variance, and against transformers with weights scaled so that
  every LayerNorm sees a variance comparable to its eps (the random-weight parity test cannot tell
  1e-6 from 1e-5).
- The published size table of MODEL_SPEC.md (widths, depths, heads, FFN kinds, blocks read by the
  head, DPT features and out_channels) with the key and parameter counts of the published files.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from model_helpers import randomize_, tiny_config
from torch import nn

from depth_anything import build_model
from depth_anything.models import MODEL_CONFIGS, model_config

EPS = 1e-6

# MODEL_SPEC.md, "Encoder" table, plus the DPT widths of the released checkpoints.
PUBLISHED = {
    "vits": dict(embed_dim=384, depth=12, num_heads=6, ffn="mlp", layer_indices=(2, 5, 8, 11),
                 features=64, out_channels=(48, 96, 192, 384)),
    "vitb": dict(embed_dim=768, depth=12, num_heads=12, ffn="mlp", layer_indices=(2, 5, 8, 11),
                 features=128, out_channels=(96, 192, 384, 768)),
    "vitl": dict(embed_dim=1024, depth=24, num_heads=16, ffn="mlp", layer_indices=(4, 11, 17, 23),
                 features=256, out_channels=(256, 512, 1024, 1024)),
    "vitg": dict(embed_dim=1536, depth=40, num_heads=24, ffn="swiglu", layer_indices=(9, 19, 29, 39),
                 features=384, out_channels=(1536, 1536, 1536, 1536)),
}
# MODEL_SPEC.md, "State-dict layout": keys and parameters of the published files.
COUNTS = {"vits": (239, 24_785_089), "vitb": (239, 97_470_785), "vitl": (407, 335_315_649),
          "vitg": (631, 1_258_132_225)}


def _norm_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The encoder's LayerNorms by their official state-dict names (norm1/norm2 per block, final norm)."""
    encoder = model.pretrained
    norms = {"pretrained.norm": encoder.norm}
    for i, block in enumerate(encoder.blocks):
        norms[f"pretrained.blocks.{i}.norm1"] = block.norm1
        norms[f"pretrained.blocks.{i}.norm2"] = block.norm2
    return norms


# ----------------------------------------------------------------------------------- LayerNorm eps
@pytest.mark.parametrize("encoder", sorted(MODEL_CONFIGS))
def test_every_layernorm_of_every_registered_size_has_eps_1e_6(encoder):
    with torch.device("meta"):
        model = build_model(encoder)
    layer_norms = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.LayerNorm)]
    assert len(layer_norms) == 2 * model.config.depth + 1  # norm1, norm2 per block + the final norm
    for name, module in layer_norms:
        assert module.eps == EPS, f"{encoder}: {name} has eps {module.eps}, the reference uses 1e-6"
    for name, module in _norm_modules(model).items():
        assert getattr(module, "eps", None) == EPS, name


def test_layernorms_compute_with_eps_1e_6_on_tiny_variance_inputs():
    """Each encoder norm against (x − mean) / sqrt(var + 1e-6) · w + b, where var ≈ eps so eps matters."""
    model = randomize_(build_model(tiny_config()), seed=5).eval()
    generator = torch.Generator().manual_seed(6)
    dim = model.config.embed_dim
    x = 3.0 + 1e-3 * torch.randn(2, 7, dim, generator=generator, dtype=torch.float64)  # var ≈ 1e-6
    for name, module in _norm_modules(model).items():
        weight = module.weight.detach().double()
        bias = module.bias.detach().double()
        mean = x.mean(-1, keepdim=True)
        var = ((x - mean) ** 2).mean(-1, keepdim=True)
        expected = (x - mean) / torch.sqrt(var + EPS) * weight + bias
        wrong = (x - mean) / torch.sqrt(var + 1e-5) * weight + bias
        assert (expected - wrong).abs().max() > 0.1  # the check below can tell the two apart
        with torch.no_grad():
            got = copy.deepcopy(module).double()(x)
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6, msg=lambda m, n=name: f"{n}: {m}")


def _tiny_variance_model(seed: int = 1) -> nn.Module:
    """A tiny model (4×4 pre-training grid, so 56×56 is the exact grid) whose residual stream has a
    variance of about 1e-6 at every LayerNorm: embeddings and LayerScale scaled down."""
    model = randomize_(build_model(tiny_config(pretrain_grid=4)), seed=seed).eval()
    with torch.no_grad():
        enc = model.pretrained
        for param in (enc.patch_embed.proj.weight, enc.patch_embed.proj.bias, enc.pos_embed, enc.cls_token):
            param.mul_(2e-3)
        for block in enc.blocks:
            block.ls1.gamma.mul_(2e-3)
            block.ls2.gamma.mul_(2e-3)
    return model


def test_outputs_match_transformers_where_layernorm_eps_matters(tmp_path):
    transformers = pytest.importorskip("transformers")
    from depth_anything.weights import save_transformers

    model = _tiny_variance_model()
    folder = save_transformers(model, tmp_path / "hf")
    import json

    assert json.loads((folder / "config.json").read_text())["backbone_config"]["layer_norm_eps"] == EPS
    hf = transformers.DepthAnythingForDepthEstimation.from_pretrained(folder).eval()
    x = torch.randn(2, 3, 56, 56, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        # the stream really is at the scale of eps (else this test could not see a changed eps)
        tokens = model.pretrained.prepare_tokens(x)
        assert 1e-8 < float(tokens.var(-1).mean()) < 1e-4
        ours = model(x)
        theirs = hf(pixel_values=x).predicted_depth
        assert ours.abs().max() > 1e-3
        torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)
        # sensitivity: the same weights with eps 1e-5 in the encoder are far outside that tolerance
        other = copy.deepcopy(model)
        for module in other.modules():
            if isinstance(module, nn.LayerNorm):
                module.eps = 1e-5
        assert (other(x) - theirs).abs().max() > 1e-3  # > 10× the tolerance


# ----------------------------------------------------------------------------- the published sizes
@pytest.mark.parametrize("encoder", sorted(PUBLISHED))
def test_published_size_table(encoder):
    expected = PUBLISHED[encoder]
    for config in (MODEL_CONFIGS[encoder], model_config(encoder), build_model_meta(encoder).config):
        assert config.encoder == encoder
        got = {key: getattr(config, key) for key in expected}
        assert got == expected, f"{encoder}: {got} differs from the published {expected}"
        assert config.patch_size == 14 and config.pretrain_grid == 37 and config.mlp_ratio == 4.0
        assert config.max_depth is None
    # metric variants share the layout; V1 reads the last four blocks
    metric = model_config(encoder, max_depth=20.0)
    assert metric.layer_indices == expected["layer_indices"] and metric.max_depth == 20.0
    assert model_config(encoder, version=1).layer_indices == tuple(range(expected["depth"] - 4, expected["depth"]))


def build_model_meta(encoder: str, **kwargs):
    with torch.device("meta"):
        return build_model(encoder, **kwargs)


@pytest.mark.parametrize("encoder", sorted(PUBLISHED))
def test_published_state_dict_shapes_and_counts(encoder):
    model = build_model_meta(encoder)
    spec = PUBLISHED[encoder]
    state = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    keys, params = COUNTS[encoder]
    assert len(state) == keys
    assert sum(p.numel() for p in model.parameters()) == params
    dim, depth = spec["embed_dim"], spec["depth"]
    assert state["pretrained.cls_token"] == (1, 1, dim)
    assert state["pretrained.pos_embed"] == (1, 37 * 37 + 1, dim)
    assert state["pretrained.mask_token"] == (1, dim)
    assert state["pretrained.patch_embed.proj.weight"] == (dim, 3, 14, 14)
    assert state[f"pretrained.blocks.{depth - 1}.attn.qkv.weight"] == (3 * dim, dim)
    assert state[f"pretrained.blocks.{depth - 1}.attn.qkv.bias"] == (3 * dim,)
    assert f"pretrained.blocks.{depth}.norm1.weight" not in state
    assert state[f"pretrained.blocks.{depth - 1}.ls1.gamma"] == (dim,)
    assert state[f"pretrained.blocks.{depth - 1}.ls2.gamma"] == (dim,)
    assert sum(1 for k in state if k.endswith(".attn.qkv.weight")) == depth
    if spec["ffn"] == "mlp":
        assert state["pretrained.blocks.0.mlp.fc1.weight"] == (4 * dim, dim)
        assert state["pretrained.blocks.0.mlp.fc2.weight"] == (dim, 4 * dim)
    else:
        assert state["pretrained.blocks.0.mlp.w12.weight"] == (8192, 1536)
        assert state["pretrained.blocks.0.mlp.w3.weight"] == (1536, 4096)
    for i, channels in enumerate(spec["out_channels"]):
        assert state[f"depth_head.projects.{i}.weight"] == (channels, dim, 1, 1)
        assert state[f"depth_head.scratch.layer{i + 1}_rn.weight"] == (spec["features"], channels, 3, 3)
        assert f"depth_head.scratch.layer{i + 1}_rn.bias" not in state
    features = spec["features"]
    assert state["depth_head.scratch.output_conv1.weight"] == (features // 2, features, 3, 3)
    assert state["depth_head.scratch.output_conv2.0.weight"] == (32, features // 2, 3, 3)
    assert state["depth_head.scratch.output_conv2.2.weight"] == (1, 32, 1, 1)
    # the metric model has exactly the relative layout
    metric = build_model_meta(encoder, max_depth=80.0)
    assert {k: tuple(v.shape) for k, v in metric.state_dict().items()} == state


def test_mlp_uses_exact_gelu_and_swiglu_gates_the_first_half():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 32)
    mlp_model = build_model(tiny_config())
    mlp = mlp_model.pretrained.blocks[0].mlp
    with torch.no_grad():
        expected = mlp.fc2(F.gelu(mlp.fc1(x), approximate="none"))
        tanh = mlp.fc2(F.gelu(mlp.fc1(x), approximate="tanh"))
        torch.testing.assert_close(mlp(x), expected, atol=1e-7, rtol=0)
        assert not torch.allclose(mlp(x), tanh, atol=1e-7, rtol=0)
    swiglu = build_model(tiny_config(ffn="swiglu")).pretrained.blocks[0].mlp
    with torch.no_grad():
        a, b = swiglu.w12(x).chunk(2, dim=-1)
        torch.testing.assert_close(swiglu(x), swiglu.w3(F.silu(a) * b), atol=1e-7, rtol=0)
