"""Weights resolution order: an existing path wins over the cache even when it is named like a
published model; a transformers-format cache entry is complete only with its config.json.

Everything runs against a temporary $DEPTH_ANYTHING_CACHE; the network is never reached (HF_HUB_OFFLINE,
or the stand-in hub of hub_server.py on 127.0.0.1).
"""

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
from depth_anything.errors import WeightsNotFoundError
from depth_anything.weights import PUBLISHED_WEIGHTS, save_checkpoint, save_transformers


def _tiny(seed: int, **overrides):
    return randomize_(build_model(tiny_config(**overrides)), seed=seed).eval()


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return set(sa) == set(sb) and all(torch.equal(sa[k], sb[k].to(sa[k].dtype)) for k in sa)


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("DEPTH_ANYTHING_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


@pytest.mark.parametrize("name", ["vits", "metric-hypersim-vits", "v1-vitb"])
def test_existing_local_file_named_like_a_published_model_wins_over_the_cache(name, tmp_path, offline_cache, monkeypatch):
    spec = PUBLISHED_WEIGHTS[name]
    in_cache, local = _tiny(1), _tiny(2)
    from depth_anything.weights import cached_path

    save_checkpoint(in_cache, cached_path(spec, offline_cache))  # a cache hit for the name
    work = tmp_path / "work"
    work.mkdir()
    save_checkpoint(local, work / name)  # ...and a file in the working folder with exactly that name
    monkeypatch.chdir(work)
    loaded = load_model(name, device="cpu")
    assert _same_weights(loaded, local), "the cache entry was loaded instead of the existing file"
    assert not _same_weights(loaded, in_cache)
    # the same through a path object and through the official file name in another folder
    assert _same_weights(load_model(Path(name), device="cpu"), local)
    other = tmp_path / "elsewhere" / spec.filename
    other.parent.mkdir()
    save_checkpoint(local, other)
    assert _same_weights(load_model(other, device="cpu"), local)
    # without the local file, the name resolves to the cache
    (work / name).unlink()
    assert _same_weights(load_model(name, device="cpu"), in_cache)


def test_existing_local_transformers_folder_named_like_a_published_model_wins(tmp_path, offline_cache, monkeypatch):
    spec = PUBLISHED_WEIGHTS["hf-vits"]
    from depth_anything.weights import cached_path

    in_cache, local = _tiny(3), _tiny(4)
    save_transformers(in_cache, cached_path(spec, offline_cache).parent)
    monkeypatch.chdir(tmp_path)
    save_transformers(local, tmp_path / "hf-vits")
    loaded = load_model("hf-vits", device="cpu")
    assert _same_weights(loaded, local) and not _same_weights(loaded, in_cache)


def _transformers_entry_without_config(cache: Path, name: str, model) -> Path:
    from depth_anything.weights import cached_path

    folder = cached_path(PUBLISHED_WEIGHTS[name], cache).parent
    save_transformers(model, folder)
    (folder / "config.json").unlink()
    assert (folder / "model.safetensors").is_file()
    return folder


@pytest.mark.parametrize("name", ["hf-vits", "hf-metric-hypersim-vits"])
def test_transformers_cache_entry_without_config_json_is_not_a_hit(name, offline_cache):
    # a wrong "hit" would read these weights instead of reporting the missing file
    folder = _transformers_entry_without_config(offline_cache, name, _tiny(5))
    with pytest.raises(WeightsNotFoundError) as info:
        load_model(name, device="cpu")
    message = str(info.value)
    assert "config.json" in message and str(folder) in message
    from depth_anything.weights import is_cached

    assert not is_cached(PUBLISHED_WEIGHTS[name], offline_cache)
    # with config.json in place it is a hit
    save_transformers(_tiny(5), folder)
    assert is_cached(PUBLISHED_WEIGHTS[name], offline_cache)
    assert load_model(name, device="cpu").config.embed_dim == 32


def test_incomplete_transformers_cache_entry_falls_through_to_the_download(tmp_path):
    """The real download path (huggingface_hub) against a hub served on 127.0.0.1: the entry missing its
    config.json is completed from the hub and then loaded."""
    spec = PUBLISHED_WEIGHTS["hf-vits"]
    hub_model, stale_model = _tiny(6), _tiny(7)
    save_transformers(hub_model, tmp_path / "hub" / spec.repo_id)
    cache = tmp_path / "cache"
    _transformers_entry_without_config(cache, "hf-vits", stale_model)
    script = (
        "import torch; from depth_anything import load_model; m = load_model('hf-vits', device='cpu'); "
        "print(float(m.state_dict()['pretrained.cls_token'].flatten()[0]))"
    )
    with local_hub(tmp_path / "hub") as (endpoint, requests):
        env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0", "DEPTH_ANYTHING_CACHE": str(cache),
               "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(tmp_path / "hf_home")}
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    resolve = f"GET /{spec.repo_id}/resolve/main/"
    assert any(r.startswith(resolve + "config.json") for r in requests), requests
    assert (cache / spec.repo_id.split("/")[-1] / "config.json").is_file()
    expected = float(hub_model.state_dict()["pretrained.cls_token"].flatten()[0])
    assert float(result.stdout.strip().splitlines()[-1]) == pytest.approx(expected, abs=1e-6)
