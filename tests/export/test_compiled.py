"""`backend="auto"` on a checkpoint: compiled once for OpenVINO, cached by the weights' digest, reused
without torch, equal to PyTorch; and the cases that stay on torch."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from model_helpers import randomize_, tiny_config

from depth_anything.export import compiled
from depth_anything.inference import OpenVINORuntime, TorchRuntime
from depth_anything.loading import auto_backend, open_predictor
from depth_anything.models import build_model
from depth_anything.transforms import InputSpec
from depth_anything.weights.files import save_checkpoint

pytest.importorskip("openvino", reason="compiling for OpenVINO needs the openvino extra")


@pytest.fixture
def compiling(monkeypatch, tmp_path):
    """Compiling turned on (the suite turns it off), with a cache of this test's own."""
    monkeypatch.delenv(compiled.COMPILE_ENV, raising=False)
    monkeypatch.setenv("DEPTH_ANYTHING_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "compiled"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "tiny.pth"
    model = randomize_(build_model(tiny_config()), seed=3).eval()
    save_checkpoint(model, path, input_spec=InputSpec(input_size=112))
    return path


def photos() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), rng.integers(0, 256, (150, 90, 3), dtype=np.uint8)]


def test_auto_compiles_a_checkpoint_once_and_matches_torch(compiling, checkpoint):
    heard: list[str] = []
    assert auto_backend(checkpoint, device="cpu") == "openvino"
    predictor = open_predictor(checkpoint, device="cpu", report=heard.append)
    assert isinstance(predictor.runtime, OpenVINORuntime)
    assert any(line.startswith("compiling") for line in heard) and any(" s" in line for line in heard if line.startswith("compiled"))
    folders = list(compiling.glob("*-openvino-*"))
    assert len(folders) == 1 and (folders[0] / "model.xml").is_file() and (folders[0] / compiled.MADE_BY).is_file()

    reference = open_predictor(checkpoint, backend="torch", device="cpu")
    assert isinstance(reference.runtime, TorchRuntime)
    for input_size in (112, 168):  # the dynamic graph at two sizes, two aspect ratios each
        fast = open_predictor(checkpoint, device="cpu", input_size=input_size, report=heard.append)
        slow = open_predictor(checkpoint, backend="torch", device="cpu", input_size=input_size)
        for ours, theirs in zip(fast.predict(photos()), slow.predict(photos()), strict=True):
            assert ours.shape == theirs.shape
            assert np.abs(ours - theirs).max() <= 1e-4 * (theirs.max() - theirs.min())
    assert sum(line.startswith("compiling") for line in heard) == 1  # the later opens reused the file

    # a fresh process finds the compiled file without importing torch
    script = textwrap.dedent(f"""
        import sys
        from depth_anything.loading import open_predictor
        predictor = open_predictor({str(checkpoint)!r}, device="cpu", report=lambda text: print("HEARD", text))
        assert type(predictor.runtime).__name__ == "OpenVINORuntime", predictor.runtime
        assert "torch" not in sys.modules, "a cache hit imported torch"
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "DEPTH_ANYTHING_CACHE": str(compiling.parent)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok") and "HEARD" not in done.stdout


def test_the_cache_key_follows_the_weights_bytes(compiling, tmp_path):
    path = tmp_path / "model.pth"
    save_checkpoint(randomize_(build_model(tiny_config()), seed=4), path)
    first = compiled.weights_digest(path, compiling)
    assert compiled.weights_digest(path, compiling) == first  # remembered: the same answer
    save_checkpoint(randomize_(build_model(tiny_config()), seed=5), path)  # retrained in place
    second = compiled.weights_digest(path, compiling)
    assert second != first
    assert compiled.compiled_key(first, "openvino") != compiled.compiled_key(second, "openvino")
    assert compiled.compiled_key(first, "openvino") != compiled.compiled_key(first, "onnxruntime")


def test_what_stays_on_torch(compiling, checkpoint, monkeypatch):
    assert auto_backend(checkpoint, device="cpu", dtype="bf16") == "torch"
    assert auto_backend(checkpoint, device="cuda") == "torch"
    assert auto_backend("video-vits", device="cpu") == "torch"
    assert auto_backend("default") == "onnxruntime"  # the built-in model keeps its shipped graph
    monkeypatch.setenv(compiled.COMPILE_ENV, "off")
    assert auto_backend(checkpoint, device="cpu") == "torch"
    monkeypatch.delenv(compiled.COMPILE_ENV)
    real = compiled.importlib.util.find_spec
    monkeypatch.setattr(compiled.importlib.util, "find_spec", lambda name: None if name == "openvino" else real(name))
    assert compiled.fastest_compiled_backend() == "onnxruntime"


def test_a_failed_compile_warns_and_runs_on_torch(compiling, checkpoint, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(compiled, "compiled_file", broken)
    with caplog.at_level(logging.WARNING, logger="depth_anything.loading"):
        predictor = open_predictor(checkpoint, device="cpu")
    assert isinstance(predictor.runtime, TorchRuntime)
    assert "compiling failed on openvino (exporter exploded); running on torch" in caplog.text
