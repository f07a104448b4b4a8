"""The model registry and the one resolver: a torch-free table of every model name, and one function
that every part of the toolkit turns names and paths into weights with."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from depth_anything.errors import WeightsNotFoundError
from depth_anything.weights import registry
from depth_anything.weights.registry import (
    APACHE,
    CC_BY_NC,
    DA_V1,
    DA_V2,
    DEFAULT_MODEL,
    FAMILIES,
    GENERIC_FILENAMES,
    METRIC,
    REGISTRY,
    RELATIVE,
    ModelEntry,
    builtin_names,
    model_names,
)
from depth_anything.weights.resolver import recognise, resolve


def test_registry_and_resolver_import_and_resolve_every_name_without_torch(tmp_path):
    script = (
        "import sys\n"
        "from depth_anything.weights.registry import REGISTRY\n"
        "from depth_anything.weights.resolver import resolve\n"
        f"paths = [resolve(name, cache={str(tmp_path)!r}).path for name in REGISTRY]\n"
        "specs = [entry.input_spec for entry in REGISTRY.values()]\n"
        "print('RESOLVED', len(paths), 'TORCH', 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert f"RESOLVED {len(REGISTRY)} TORCH False" in done.stdout, done.stdout + done.stderr


def test_every_published_name_resolves_to_its_cache_file_or_the_package(tmp_path):
    for name, entry in REGISTRY.items():
        resolved = resolve(name, cache=tmp_path)
        assert resolved.named and resolved.entry is entry and resolved.request == name
        if entry.builtin:
            assert resolved.path == registry.builtin_dir() / entry.filename and resolved.available
            # the built-in video model has no torch-free graph (its windows run in PyTorch)
            assert resolved.graph == (None if entry.graph is None else registry.builtin_dir() / entry.graph)
        else:
            assert resolved.path.name == entry.filename and tmp_path in resolved.path.parents
            assert not resolved.available and resolved.graph is None
    cached = resolve("metric-vkitti-vitl", cache=tmp_path).path
    assert cached == tmp_path / "depth_anything_v2_metric_vkitti_vitl.pth"
    generic = {resolve(n, cache=tmp_path).path for n, e in REGISTRY.items() if e.filename in GENERIC_FILENAMES}
    assert len(generic) == sum(e.filename in GENERIC_FILENAMES for e in REGISTRY.values())  # a folder per repository


def test_rows_describe_the_published_files():
    assert builtin_names() == [DEFAULT_MODEL, "default-metric"]
    for name, entry in REGISTRY.items():
        assert entry.name == name and entry.family in FAMILIES and entry.kind in (RELATIVE, METRIC)
        assert (entry.kind == METRIC) == (entry.max_depth is not None) == entry.input_spec.is_metric
        assert entry.licence == (APACHE if entry.encoder in ("vits", "vitc") or entry.family == DA_V1 else CC_BY_NC)
        assert entry.builtin == (entry.url is None)
    assert REGISTRY["vitl"].parameters == 335_315_649 and REGISTRY["hf-vitl"].parameters == 335_315_649
    assert REGISTRY["metric-hypersim-vitb"].max_depth == 20.0 and REGISTRY["hf-metric-vkitti-vits"].max_depth == 80.0
    assert REGISTRY["v1-vitb"].version == 1 and REGISTRY["vitb"].version == 2
    hub = [(e.repo_id, e.filename) for e in REGISTRY.values() if not e.builtin]
    assert len(hub) == len(set(hub))
    assert set(model_names(kind=METRIC)) >= {"default-metric", "metric-hypersim-vitl", "hf-metric-vkitti-vitb"}
    assert "vits" not in model_names(kind=METRIC)


def test_published_files_are_recognised_by_their_names():
    """What the tensors cannot say (metric range, V1 read-out) comes from the published file's name."""
    for entry in REGISTRY.values():
        if entry.builtin:
            continue
        folder = Path("/somewhere") / entry.repo_id.split("/")[-1]
        assert recognise(folder / entry.filename) == entry or entry.filename in GENERIC_FILENAMES and (
            recognise(folder / entry.filename).repo_id == entry.repo_id), entry.name
        if entry.filename not in GENERIC_FILENAMES:
            assert recognise(Path("/x") / entry.filename) == entry
    assert recognise("/downloads/depth_anything_v2_metric_hypersim_vitl (1).pth").name == "metric-hypersim-vitl"
    assert recognise("/models/depth_anything_vitl14.pth").family == DA_V1
    assert recognise("/my/finetune_metric_vkitti.pth").max_depth == 80.0
    assert recognise("/my/model.pth") is None


def test_paths_win_and_no_argument_is_always_the_built_in_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vits").write_bytes(b"a local file")
    assert not resolve("vits").named and resolve("vits").path == Path("vits")
    (tmp_path / DEFAULT_MODEL).write_bytes(b"a local file")
    assert resolve(None).builtin and not resolve(DEFAULT_MODEL).builtin
    missing = resolve("checkpoints/model.pth")
    assert not missing.named and not missing.available
    with pytest.raises(WeightsNotFoundError, match="model file checkpoints/model.pth does not exist"):
        resolve("checkpoints/model.pth", download=True)
    with pytest.raises(WeightsNotFoundError, match=r"'vitz' is neither .*did you mean 'vits'"):
        resolve("vitz")
    assert resolve("export/model.onnx").exported_runtime == "onnxruntime"
    assert resolve("model.XML").exported_runtime == "openvino" and resolve("vits").exported_runtime is None


def test_download_is_tried_only_when_asked_and_fails_with_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not resolve("metric-hypersim-vitl", cache=tmp_path).available  # no download without download=True
    with pytest.raises(WeightsNotFoundError) as info:
        resolve("metric-hypersim-vitl", download=True, cache=tmp_path)
    message = str(info.value)
    assert "https://huggingface.co/depth-anything/Depth-Anything-V2-Metric-Hypersim-Large" in message
    assert str(tmp_path / "depth_anything_v2_metric_hypersim_vitl.pth") in message
    monkeypatch.setattr(registry, "BUILTIN_DIR", tmp_path / "trimmed")
    assert not resolve(DEFAULT_MODEL).available and resolve(DEFAULT_MODEL).graph is None
    with pytest.raises(WeightsNotFoundError, match="missing from the installed package"):
        resolve(DEFAULT_MODEL, download=True)


def test_a_new_row_is_all_a_new_model_needs(tmp_path, monkeypatch):
    """Every entry point resolves names through the registry: a row added at run time is loadable by
    `load_model`, `open_predictor`, `weights_identity`, training's initialisation and the web demo."""
    torch = pytest.importorskip("torch")
    from model_helpers import randomize_, tiny_config

    from depth_anything import open_predictor
    from depth_anything.app.processing import ModelChooser, model_sources
    from depth_anything.models import build_model
    from depth_anything.train.setup import read_init
    from depth_anything.weights import CACHE_ENV, load_model, save_checkpoint, weights_identity

    entry = ModelEntry("tiny-test", DA_V2, "vits", "someone/Tiny-Test", "tiny_test.pth", APACHE)
    monkeypatch.setitem(REGISTRY, entry.name, entry)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    model = randomize_(build_model(tiny_config()), seed=3).eval()
    save_checkpoint(model, tmp_path / entry.filename)
    x = torch.randn(1, 3, 28, 42)
    with torch.no_grad():
        torch.testing.assert_close(load_model(entry.name, device="cpu")(x), model(x))
    assert open_predictor(entry.name).runtime.name == "torch"
    assert weights_identity(entry.name)["model_file"] == str((tmp_path / entry.filename).resolve())
    state, file = read_init(entry.name)
    assert file == str(tmp_path / entry.filename) and set(state) == set(model.state_dict())
    assert ModelChooser(model_sources(entry.name)).get(entry.name).runtime.name == "torch"
    monkeypatch.setitem(REGISTRY, entry.name, replace(entry, filename="elsewhere.pth"))
    with pytest.raises(WeightsNotFoundError):
        load_model(entry.name)
