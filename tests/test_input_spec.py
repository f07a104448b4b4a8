"""The input spec travels with the weights: saved in checkpoints and safetensors, read back by
load_model, and used by infer_image, the Predictor and the command line unless a size is given."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import randomize_, tiny_config

from depth_anything import InputSpec, Predictor, build_model, load_model
from depth_anything.errors import ConfigError
from depth_anything.inference import TorchRuntime
from depth_anything.transforms import network_input_size, preprocess
from depth_anything.weights import PUBLISHED_WEIGHTS, save_checkpoint, save_safetensors


def _network_shapes(model: torch.nn.Module) -> tuple[list, torch.utils.hooks.RemovableHandle]:
    seen: list = []
    return seen, model.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape)))


@pytest.fixture()
def patch16_model():
    """A model with patch 16 and a 6×6 pre-training grid: its default input is 96 px, multiples of 16."""
    return randomize_(build_model(tiny_config(patch_size=16, pretrain_grid=6)), seed=3).eval()


def test_default_spec_follows_the_config(patch16_model):
    assert patch16_model.input_spec == InputSpec(input_size=96, size_multiple=16)
    assert build_model("vits").input_spec == InputSpec(input_size=518, size_multiple=14)
    metric = build_model("vits", max_depth=20.0).input_spec
    assert (metric.output, metric.max_depth) == ("metric", 20.0)
    for spec in PUBLISHED_WEIGHTS.values():  # every published name prepares images at 518, patch 14
        if spec.builtin:
            continue
        assert (spec.input_spec.input_size, spec.input_spec.size_multiple) == (518, 14), spec.name


@pytest.mark.parametrize("writer", [save_checkpoint, save_safetensors])
def test_checkpoint_round_trip_keeps_the_spec(tmp_path, patch16_model, writer):
    spec = InputSpec(input_size=112, size_multiple=16, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    path = writer(patch16_model, tmp_path / ("m.pt" if writer is save_checkpoint else "m.safetensors"), spec)
    loaded = load_model(path, device="cpu")
    assert loaded.input_spec == spec
    torch.testing.assert_close(loaded.state_dict(), patch16_model.state_dict())


def test_infer_image_and_predictor_use_the_stored_spec(tmp_path, patch16_model):
    spec = InputSpec(input_size=112, size_multiple=16, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    loaded = load_model(save_checkpoint(patch16_model, tmp_path / "m.pt", spec), device="cpu")
    image = np.random.default_rng(0).integers(0, 256, (50, 75, 3), dtype=np.uint8)
    seen, handle = _network_shapes(loaded)
    try:
        loaded.infer_image(image[:, :, ::-1].copy())
        Predictor(loaded).predict([image])
        Predictor(loaded, input_size=64).predict([image])  # an explicit size wins
    finally:
        handle.remove()
    assert network_input_size(50, 75, 112, 16) == (112, 176)
    assert seen == [(1, 3, 112, 176), (1, 3, 112, 176), (1, 3, 64, 96)]
    # the stored mean/std are what the network sees, not ImageNet's
    x = preprocess(image, spec)
    assert abs(float(x.mean()) - float(((image / 255.0 - 0.5) / 0.25).mean())) < 0.05


def test_predictor_does_not_move_a_model_it_was_not_asked_to_move(patch16_model):
    runtime = TorchRuntime(patch16_model)
    assert runtime.device == torch.device("cpu") and runtime.dtype == torch.float32
    assert Predictor(patch16_model).device == torch.device("cpu")


def test_bad_specs_are_refused():
    with pytest.raises(ConfigError, match="max_depth"):
        InputSpec(output="metric")
    with pytest.raises(ConfigError, match="size_multiple"):
        InputSpec(input_size=10, size_multiple=14)
    with pytest.raises(ConfigError, match="unknown key 'input_spec.resolution'"):
        InputSpec.from_dict({"input_size": 518, "resolution": 1})
