"""Weights: official key layout, names → files, cache, hub download, conversions, clear mismatch errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hub_server import local_hub
from model_helpers import randomize_, tiny_config

from depth_anything import build_model, load_model
from depth_anything.errors import CheckpointMismatchError, WeightsNotFoundError
from depth_anything.weights import PUBLISHED_WEIGHTS, save_checkpoint, save_transformers

# From MODEL_SPEC.md: the published files' key counts and parameter counts.
EXPECTED = {"vits": (239, 24_785_089), "vitb": (239, 97_470_785), "vitl": (407, 335_315_649), "vitg": (631, 1_258_132_225)}


@pytest.mark.parametrize("encoder", EXPECTED)
def test_official_key_layout_for_every_size_and_kind(encoder):
    with torch.device("meta"):
        relative = build_model(encoder)
        metric = build_model(encoder, max_depth=80)
        v1 = build_model(encoder, version=1)
    keys, params = EXPECTED[encoder]
    shapes = {k: tuple(v.shape) for k, v in relative.state_dict().items()}
    assert len(shapes) == keys
    assert sum(p.numel() for p in relative.parameters()) == params
    assert {k: tuple(v.shape) for k, v in metric.state_dict().items()} == shapes
    assert {k: tuple(v.shape) for k, v in v1.state_dict().items()} == shapes
    assert {k.split(".")[0] for k in shapes} == {"pretrained", "depth_head"}
    if encoder == "vitg":
        assert shapes["pretrained.blocks.0.mlp.w12.weight"] == (8192, 1536)
        assert shapes["pretrained.blocks.0.mlp.w3.weight"] == (1536, 4096)
    assert v1.config.layer_indices == tuple(range(relative.config.depth - 4, relative.config.depth))


def _save_official(model, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def vits_relative():
    return randomize_(build_model("vits"), seed=11).eval()


def test_official_file_loads_strict_and_by_path(vits_relative, tmp_path):
    path = _save_official(vits_relative, tmp_path / "depth_anything_v2_vits.pth")
    fresh = build_model("vits")
    fresh.load_state_dict(torch.load(path), strict=True)
    loaded = load_model(path, device="cpu")
    x = torch.randn(1, 3, 70, 98)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), vits_relative(x))
    assert not loaded.training and loaded.config.max_depth is None


def test_metric_and_v1_files_are_recognised_by_their_official_names(vits_relative, tmp_path):
    metric = load_model(_save_official(vits_relative, tmp_path / "depth_anything_v2_metric_hypersim_vits.pth"))
    assert metric.config.max_depth == 20.0
    outdoor = load_model(_save_official(vits_relative, tmp_path / "depth_anything_v2_metric_vkitti_vits.pth"))
    assert outdoor.config.max_depth == 80.0
    v1 = load_model(_save_official(vits_relative, tmp_path / "depth_anything_vits14.pth"))
    assert v1.config.layer_indices == (8, 9, 10, 11)
    forced = load_model(tmp_path / "depth_anything_v2_metric_hypersim_vits.pth", max_depth=5.0)
    assert forced.config.max_depth == 5.0


def test_name_resolves_from_cache_folder_without_network(vits_relative, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    _save_official(vits_relative, cache / "depth_anything_v2_metric_vkitti_vits.pth")
    monkeypatch.setenv("DEPTH_ANYTHING_CACHE", str(cache))
    model = load_model("metric-vkitti-vits")
    assert model.config.max_depth == 80.0
    assert torch.equal(model.state_dict()["pretrained.pos_embed"], vits_relative.state_dict()["pretrained.pos_embed"])


def test_cache_paths_never_collide():
    from depth_anything.weights import cached_path as _cached_path

    paths = [_cached_path(spec, Path("/cache")) for spec in PUBLISHED_WEIGHTS.values() if not spec.builtin]
    assert len(set(paths)) == len(paths)
    assert _cached_path(PUBLISHED_WEIGHTS["vitl"], Path("/cache")) == Path("/cache/depth_anything_v2_vitl.pth")


def test_missing_weights_offline_say_what_where_and_from_where(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTH_ANYTHING_CACHE", str(tmp_path / "empty"))
    with pytest.raises(WeightsNotFoundError) as info:
        load_model("metric-hypersim-vitl")
    message = str(info.value)
    assert "depth_anything_v2_metric_hypersim_vitl.pth" in message
    assert str(tmp_path / "empty" / "depth_anything_v2_metric_hypersim_vitl.pth") in message
    assert "huggingface.co/depth-anything/Depth-Anything-V2-Metric-Hypersim-Large" in message
    with pytest.raises(WeightsNotFoundError, match="known model name"):
        load_model("no-such-model")


def test_download_through_huggingface_hub_from_a_local_hub(vits_relative, tmp_path):
    """The real download path (huggingface_hub), pointed at a hub served on 127.0.0.1."""
    spec = PUBLISHED_WEIGHTS["vits"]
    _save_official(vits_relative, tmp_path / "hub" / spec.repo_id / spec.filename)
    cache = tmp_path / "cache"
    script = "from depth_anything import load_model; m = load_model('vits'); print(m.config.encoder)"
    with local_hub(tmp_path / "hub") as (endpoint, requests):
        env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0", "DEPTH_ANYTHING_CACHE": str(cache),
               "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(tmp_path / "hf_home")}
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "vits"
    assert (cache / spec.filename).is_file()
    assert any(r.startswith("GET /depth-anything/Depth-Anything-V2-Small/resolve/main/") for r in requests)
    downloaded = torch.load(cache / spec.filename)
    assert torch.equal(downloaded["pretrained.cls_token"], vits_relative.state_dict()["pretrained.cls_token"])


def test_transformers_folder_and_project_checkpoint_load(tmp_path):
    for kind in (tiny_config(), tiny_config(max_depth=20.0, ffn="swiglu")):
        model = randomize_(build_model(kind), seed=12).eval()
        x = torch.randn(1, 3, 56, 70)
        with torch.no_grad():
            expected = model(x)
            from_hf = load_model(save_transformers(model, tmp_path / f"hf-{kind.ffn}"))
            from_ckpt = load_model(save_checkpoint(model, tmp_path / f"ckpt-{kind.ffn}.pt"))
            torch.testing.assert_close(from_hf(x), expected, atol=1e-6, rtol=1e-6)
            torch.testing.assert_close(from_ckpt(x), expected, atol=0, rtol=0)
        assert from_hf.config.max_depth == kind.max_depth


def test_transformers_weights_without_config_infer_the_size(vits_relative, tmp_path):
    from safetensors.torch import save_file

    from depth_anything.models.convert import official_to_transformers

    state = {k: v.contiguous() for k, v in official_to_transformers(vits_relative.state_dict()).items()}
    save_file(state, str(tmp_path / "weights.safetensors"))
    model = load_model(tmp_path / "weights.safetensors")
    assert model.config.encoder == "vits"
    x = torch.randn(1, 3, 42, 42)
    with torch.no_grad():
        torch.testing.assert_close(model(x), vits_relative(x))


def test_wrong_size_names_both_sizes_not_a_shape_dump(tmp_path):
    with torch.device("meta"):
        vitb_state = build_model("vitb").state_dict()
    from depth_anything.weights import load_state_dict_checked

    with torch.device("meta"):
        vits = build_model("vits")
    with pytest.raises(CheckpointMismatchError) as info:
        load_state_dict_checked(vits, vitb_state, "depth_anything_v2_vitb.pth")
    message = str(info.value)
    assert "vitb" in message and "vits" in message and "depth_anything_v2_vitb.pth" in message
    assert "size mismatch" not in message
    # the model's own load_state_dict stays torch's: no silent conversion, torch's own error
    with pytest.raises(RuntimeError, match="size mismatch"):
        vits.load_state_dict(vitb_state)


def test_transformers_keys_are_converted_in_one_place_only():
    from depth_anything.models.convert import official_to_transformers
    from depth_anything.weights import load_state_dict_checked

    source = randomize_(build_model(tiny_config()), seed=13)
    target = build_model(tiny_config())
    load_state_dict_checked(target, official_to_transformers(source.state_dict()))
    assert all(torch.equal(target.state_dict()[k], v) for k, v in source.state_dict().items())
    with pytest.raises(RuntimeError, match="Missing key"):  # plain torch loading does not convert
        build_model(tiny_config()).load_state_dict(official_to_transformers(source.state_dict()))


def test_unreadable_checkpoint_names_the_file(tmp_path):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointMismatchError, match="broken.pth"):
        load_model(bad)
