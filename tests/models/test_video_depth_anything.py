"""Video Depth Anything: exactness against the official code (outputs it computed on pseudo-random weights,
tests/fixtures/vda, made by tools/make_vda_fixtures.py), the official key layouts, and each detail of
MODEL_SPEC.md's Video Depth Anything part on its own."""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from depth_anything.errors import CheckpointMismatchError
from depth_anything.models import ModelConfig, build_model
from depth_anything.models import temporal as temporal_module
from depth_anything.models.convert import infer_video_config, is_video_state_dict
from depth_anything.models.temporal import (
    GEGLU,
    TemporalAttention,
    TemporalDPTHead,
    TemporalTransformer,
    sinusoid_table,
)
from depth_anything.models.video_depth_anything import VideoDepthAnything, build_video_model, video_config

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("make_vda_fixtures", ROOT / "tools" / "make_vda_fixtures.py")
recipe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recipe)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These models run on a few dozen tokens per frame, where a second thread costs more in
    synchronisation than it saves (ten times slower on a busy machine); restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# parameters (buffers excluded) and state-dict entries of the official models, counted on the official code
OFFICIAL_COUNTS = {"vits": (29_035_137, 351), "vitb": (114_441_409, 351), "vitl": (384_390_337, 519)}


def tiny_video_config(**overrides) -> ModelConfig:
    """A small VDA: every path of the real sizes (GroupNorm of 32 groups needs multiples of 32 channels)."""
    values = dict(encoder="tiny", embed_dim=32, depth=4, num_heads=2, layer_indices=(0, 1, 2, 3),
                  features=32, out_channels=(16, 32, 32, 64))
    values.update(overrides)
    return ModelConfig(**values)


@pytest.fixture(scope="module")
def official():
    with np.load(recipe.FIXTURE) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def vits(official):
    model = build_video_model("vits", init_weights=False).eval()
    state = recipe.seeded_state_dict(model.state_dict())
    assert recipe.weights_checksum(state) == pytest.approx(float(official["weights_checksum"]), rel=1e-12), (
        "the weights recipe no longer gives the weights the fixture was made with; rerun tools/make_vda_fixtures.py"
    )
    model.load_state_dict(state, strict=True)
    return model


def _tolerance(reference: np.ndarray) -> float:
    return 1e-4 * float(reference.max() - reference.min())


def _assert_float32_close(ours: torch.Tensor, reference: torch.Tensor) -> None:
    """Equal to a float64 reference up to float32 rounding, relative to the output's magnitude."""
    assert ours.shape == reference.shape
    error = float((ours.double() - reference).abs().max())
    assert error <= 2e-6 * float(reference.abs().max()) + 1e-7, error


def _forward_error(model: VideoDepthAnything, official) -> float:
    with torch.no_grad():
        return float(np.abs(model(recipe.forward_input()).numpy() - official["forward"]).max())


# --------------------------------------------------------------------------------------- exactness
def test_forward_matches_official(vits, official):
    reference = official["forward"]
    assert reference.shape == (2, 5, 70, 98)
    assert reference.max() - reference.min() > 0.1  # a flat output would match too easily
    with torch.no_grad():
        ours = vits(recipe.forward_input())
    assert ours.shape == (2, 5, 70, 98) and ours.dtype == torch.float32
    np.testing.assert_allclose(ours.numpy(), reference, rtol=0, atol=_tolerance(reference))


def _swap_geglu_halves(self, x):
    gate, value = temporal_module.linear(self.proj, x).chunk(2, dim=-1)
    return value * F.gelu(gate)


def _unnormalised_attention(self, x, past=None):
    sequence = x if past is None else torch.cat((past, x), dim=1)
    seen = 0 if past is None else past.shape[1]
    count, length, dim = sequence.shape
    heads = self.heads

    def split(t):
        return t.reshape(count, t.shape[1], heads, dim // heads).transpose(1, 2)

    q, k, v = (split(layer(t)) for layer, t in ((self.to_q, sequence[:, seen:]), (self.to_k, sequence), (self.to_v, sequence)))
    out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(count, -1, dim)
    return self.to_out[0](out)  # the position table left out


def _four_heads(monkeypatch, model):
    for module in model.modules():
        if isinstance(module, TemporalAttention):
            monkeypatch.setattr(module, "heads", 4)


# (tanh instead of exact GELU moves these outputs by less than the tolerance: the GEGLU test below
# checks that detail on its own)
MUTATIONS = {
    "GEGLU halves swapped": lambda mp, model: mp.setattr(GEGLU, "forward", _swap_geglu_halves),
    "no position table": lambda mp, model: mp.setattr(TemporalAttention, "forward", _unnormalised_attention),
    "4 heads": _four_heads,
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_parity_check_catches_a_broken_detail(vits, official, mutation, monkeypatch):
    """The forward parity test has teeth: each broken detail moves the output far beyond its tolerance."""
    MUTATIONS[mutation](monkeypatch, vits)
    assert _forward_error(vits, official) > 30 * _tolerance(official["forward"])


# --------------------------------------------------------------------------------------- layout
@pytest.fixture(scope="module")
def official_layouts():
    with gzip.open(recipe.LAYOUTS, "rt") as file:
        return json.load(file)


@pytest.mark.parametrize("encoder", ["vits", "vitb", "vitl"])
def test_key_layout_equals_official_and_loads_strictly(encoder, official_layouts):
    with torch.device("meta"):
        model = build_video_model(encoder, init_weights=False)
    ours = {key: list(value.shape) for key, value in model.state_dict().items()}
    assert ours == official_layouts[encoder]
    parameters, entries = OFFICIAL_COUNTS[encoder]
    assert sum(p.numel() for p in model.parameters()) == parameters
    assert len(ours) == entries
    assert all(key.startswith(("pretrained.", "head.")) for key in ours)
    official_state = {key: torch.empty(shape, device="meta") for key, shape in official_layouts[encoder].items()}
    model.load_state_dict(official_state, strict=True, assign=True)
    assert is_video_state_dict(official_state)
    assert infer_video_config(official_state) == video_config(encoder)
    assert infer_video_config(official_state, metric=True).is_metric


def test_vits_loads_the_seeded_official_layout_strictly(vits, official_layouts):
    assert set(vits.state_dict()) == set(official_layouts["vits"])
    assert infer_video_config(vits.state_dict()) == vits.config


def test_config_inference_refuses_other_families():
    image_state = build_model(tiny_video_config()).state_dict()
    assert not is_video_state_dict(image_state)
    with pytest.raises(CheckpointMismatchError, match="image checkpoint"):
        infer_video_config(image_state)
    with pytest.raises(CheckpointMismatchError, match="encoder"):  # a size that was never published
        infer_video_config(VideoDepthAnything(tiny_video_config(), init_weights=False).state_dict())
    with pytest.raises(ValueError, match="vitg"):
        video_config("vitg")


# --------------------------------------------------------------------------------------- the details
def test_position_table_is_the_official_sinusoid_buffer(official, vits):
    table = sinusoid_table(32, 64)
    # the same float32 operations as the reference: equal to its buffer up to the rounding of sin/cos,
    # which torch's vectorised kernels do differently on AVX2 and AVX-512 processors (measured: 85 of
    # 2048 entries apart, by at most 9.5e-7, on an AVX-512 Xeon against a fixture made on an AVX2 EPYC)
    torch.testing.assert_close(table, torch.from_numpy(official["position_table"]), atol=2e-6, rtol=0)
    position = np.arange(32)[:, None]
    angle = position / 10000.0 ** (np.arange(0, 64, 2) / 64)
    expected = np.empty((32, 64))
    expected[:, 0::2], expected[:, 1::2] = np.sin(angle), np.cos(angle)
    np.testing.assert_allclose(table[0].numpy(), expected, atol=2e-6, rtol=0)
    buffers = {k: v for k, v in vits.state_dict().items() if k.endswith("pos_encoder.pe")}
    assert len(buffers) == 8  # 4 motion modules × 2 attention layers, all stored in the checkpoints
    for key, value in buffers.items():
        assert torch.equal(value, sinusoid_table(32, value.shape[-1])), key
    assert dict(vits.named_buffers()).keys() >= buffers.keys()


def test_geglu_is_value_times_exact_gelu_of_gate():
    torch.manual_seed(0)
    layer = GEGLU(8, 16)
    x = torch.randn(5, 8) * 3
    with torch.no_grad():
        projected = x.double() @ layer.proj.weight.double().T + layer.proj.bias.double()
        value, gate = projected[:, :16], projected[:, 16:]
        exact = value * 0.5 * gate * (1 + torch.erf(gate / math.sqrt(2)))
        out = layer(x).double()
    torch.testing.assert_close(out, exact, atol=1e-5, rtol=1e-5)
    tanh = value * F.gelu(gate, approximate="tanh")
    assert (out - tanh).abs().max() > 1e-4  # the test can tell exact from tanh GELU


def _reference_attention(layer: TemporalAttention, x: torch.Tensor, past: torch.Tensor | None = None) -> torch.Tensor:
    """Float64 temporal attention written from the spec: table added to cache + input, 8 heads of dim/8,
    softmax(q·kᵀ/√(dim/8)), output projection with bias; queries only for the new frames."""
    full = x if past is None else torch.cat((past, x), dim=1)
    full = full.double() + layer.pos_encoder.pe[0, : full.shape[1]].double()
    q = full[:, full.shape[1] - x.shape[1] :] @ layer.to_q.weight.double().T
    k, v = full @ layer.to_k.weight.double().T, full @ layer.to_v.weight.double().T
    count, dim = x.shape[0], x.shape[-1]
    width = dim // 8

    def split(t):
        return t.reshape(count, t.shape[1], 8, width).transpose(1, 2)

    weights = torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(width), dim=-1)
    out = (weights @ split(v)).transpose(1, 2).reshape(count, -1, dim)
    return out @ layer.to_out[0].weight.double().T + layer.to_out[0].bias.double()


def test_temporal_attention_has_8_heads_and_no_qkv_bias():
    torch.manual_seed(1)
    layer = TemporalAttention(64)
    assert layer.to_q.bias is None and layer.to_k.bias is None and layer.to_v.bias is None
    assert layer.to_out[0].bias is not None
    for parameter in layer.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    x = torch.randn(7, 6, 64)
    with torch.no_grad():
        _assert_float32_close(layer(x), _reference_attention(layer, x))
        past = torch.randn(7, 25, 64)  # streaming: one new frame after 25 cached ones
        _assert_float32_close(layer(x[:, :1], past), _reference_attention(layer, x[:, :1], past))
    with pytest.raises(ValueError, match="position table covers 32"):
        layer(torch.randn(2, 33, 64))


def _reference_motion_module(module: TemporalTransformer, x: torch.Tensor, frames: int) -> torch.Tensor:
    """Float64 motion module from the spec: GroupNorm(32, eps 1e-6) per frame, proj_in, two pre-norm
    residual attention layers, pre-norm residual GEGLU, proj_out, plus the input."""
    batch_frames, channels, height, width = x.shape
    xd = x.double()
    norm = module.norm
    normed = F.group_norm(xd, 32, norm.weight.double(), norm.bias.double(), eps=1e-6)
    seq = normed.reshape(-1, frames, channels, height, width).permute(0, 3, 4, 1, 2).reshape(-1, frames, channels)

    def lin(layer, t):
        return t @ layer.weight.double().T + (layer.bias.double() if layer.bias is not None else 0)

    def ln(layer, t):
        return F.layer_norm(t, (channels,), layer.weight.double(), layer.bias.double(), eps=1e-5)

    seq = lin(module.proj_in, seq)
    block = module.transformer_blocks[0]
    for attention, layer_norm in zip(block.attention_blocks, block.norms, strict=True):
        seq = seq + _reference_attention(attention, ln(layer_norm, seq))
    hidden = lin(block.ff.net[0].proj, ln(block.ff_norm, seq))
    a, b = hidden.chunk(2, dim=-1)
    seq = seq + lin(block.ff.net[2], a * F.gelu(b))
    seq = lin(module.proj_out, seq)
    out = seq.reshape(-1, height, width, frames, channels).permute(0, 3, 4, 1, 2).reshape(batch_frames, channels, height, width)
    return xd + out


def test_motion_module_groupnorm_eps_and_residual():
    torch.manual_seed(2)
    module = TemporalTransformer(64)
    assert module.norm.num_groups == 32 and module.norm.eps == 1e-6
    assert all(norm.eps == 1e-5 for norm in module.transformer_blocks[0].norms)
    for name, parameter in module.named_parameters():
        torch.nn.init.normal_(parameter, mean=1.0 if name.endswith("norm.weight") else 0.0, std=0.2)
    # a small-variance input makes GroupNorm's eps matter: 1e-5 instead of 1e-6 would move the output
    x = torch.randn(2 * 5, 64, 3, 4) * 2e-3
    with torch.no_grad():
        ours, inputs = module(x, frames=5)
        _assert_float32_close(ours, _reference_motion_module(module, x, 5))
    assert len(inputs) == 2 and inputs[0].shape == (2 * 3 * 4, 5, 64)
    with pytest.raises(ValueError, match="clips of 4 frames"):
        module(x, frames=4)


def test_output_is_relu_without_sigmoid_for_relative_and_metric():
    for metric in (False, True):
        model = VideoDepthAnything(tiny_video_config(max_depth=80.0 if metric else None)).eval()
        assert model.metric is metric
        bias = model.head.scratch.output_conv2[2].bias
        x = torch.randn(1, 3, 3, 28, 42)
        with torch.no_grad():
            bias.fill_(-100.0)
            assert torch.equal(model(x), torch.zeros(1, 3, 28, 42))  # negatives clipped by the ReLUs
            bias.fill_(500.0)
            assert model(x).min() > 400.0  # no sigmoid × max_depth: metres pass through unbounded


def test_micro_batches_give_identical_results():
    torch.manual_seed(3)
    config = tiny_video_config()
    head = TemporalDPTHead(config.embed_dim, config.features, config.out_channels).eval()
    for frames in (6, 8):  # 6: a last micro-batch of 2; 8: two full ones
        features = [(torch.randn(frames, 12, 32), torch.randn(frames, 32)) for _ in range(4)]
        with torch.no_grad():
            whole, _ = head(features, 3, 4, frames, micro_batch=0)
            batched, _ = head(features, 3, 4, frames, micro_batch=4)
        torch.testing.assert_close(batched, whole, atol=1e-6, rtol=1e-6)


def test_forward_checks_its_input():
    model = VideoDepthAnything(tiny_video_config()).eval()
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        model(torch.randn(2, 3, 28, 28))
    with pytest.raises(ValueError, match="longer than the temporal window"):
        model(torch.randn(1, 33, 3, 14, 14))
    with torch.no_grad():
        assert model(torch.randn(2, 3, 3, 28, 42)).shape == (2, 3, 28, 42)
