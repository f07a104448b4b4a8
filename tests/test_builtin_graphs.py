"""The built-in models' shipped ONNX graphs: they read their weights from the safetensors files beside
them (one copy of the weights in the package), equal PyTorch's outputs, are chosen by the default "auto"
backend on the CPU, and `predict` with them never imports torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from depth_anything.cli.__main__ import main
from depth_anything.loading import auto_backend, open_predictor
from depth_anything.weights import registry
from depth_anything.weights.registry import REGISTRY, builtin_dir, builtin_names
from depth_anything.weights.resolver import resolve

ort = pytest.importorskip("onnxruntime", reason="the shipped graphs run on onnxruntime (a core dependency)")

NAMES = builtin_names()


def builtin_weights_path(name):
    return builtin_dir() / REGISTRY[name].filename


def builtin_graph_path(name):
    return builtin_dir() / REGISTRY[name].graph


def shipped_graph(name):
    return resolve(name).graph


def _photo(path, seed=0, size=(90, 120)):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[0], 0 : size[1]]
    image = np.stack([x * 2, y * 2, (x + y)], -1) % 256 + rng.integers(0, 30, (*size, 3))
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)
    return path


@pytest.mark.parametrize("name", NAMES)
def test_graph_records_the_digest_of_the_weights_it_was_made_from(name):
    from depth_anything.export.builtin import recorded_weights_digest
    from depth_anything.io import file_sha256

    session = ort.InferenceSession(str(builtin_graph_path(name)), providers=["CPUExecutionProvider"])
    source = session.get_modelmeta().custom_metadata_map["depth_anything.source"]
    assert recorded_weights_digest(source) == file_sha256(builtin_weights_path(name)), (
        f"{builtin_graph_path(name).name} was made from other weights: run `python tools/ship_default_models.py --graphs-only`"
    )


@pytest.mark.parametrize("name", NAMES)
def test_graph_equals_pytorch_at_several_sizes(name):
    from depth_anything.export.verify import compare_with_torch, parity_sizes
    from depth_anything.inference import OnnxRuntime
    from depth_anything.weights import load_model

    runtime = OnnxRuntime(builtin_graph_path(name))
    assert runtime.info.dynamic_size and runtime.info.batch is None
    sizes = parity_sizes(runtime.info)
    assert len({h / w for h, w in sizes}) >= 3  # square, wider, taller
    from depth_anything.export.builtin import MAX_PARITY_ERROR

    for parity in compare_with_torch(load_model(name, device="cpu"), runtime, sizes, batch=2):
        assert parity.max_error < MAX_PARITY_ERROR, parity


@pytest.mark.parametrize("name", NAMES)
def test_graph_opens_on_the_oldest_onnxruntime_the_package_allows(name):
    """onnxruntime reads ONNX IR versions up to a limit of its own (1.19: 10); the package's floor must
    be one that reads the shipped graphs."""
    onnx = pytest.importorskip("onnx")
    import re
    from pathlib import Path

    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    floor = tuple(int(part) for part in re.search(r'"onnxruntime>=(\d+)\.(\d+)"', pyproject).groups())
    highest_ir = {(1, 19): 10, (1, 20): 10, (1, 21): 11}
    assert floor in highest_ir, f"add onnxruntime {floor}'s highest IR version to this table"
    assert onnx.load(str(builtin_graph_path(name)), load_external_data=False).ir_version <= highest_ir[floor]


@pytest.mark.parametrize("name", NAMES)
def test_graph_reads_every_weight_from_the_safetensors_file(name):
    """One copy of the built-in weights: the graph holds no weight of its own, every weight tensor is
    external data inside the safetensors file beside it (int8 stays int8), so the graph is tiny."""
    onnx = pytest.importorskip("onnx")
    graph = onnx.load(str(builtin_graph_path(name)), load_external_data=False).graph
    external = [t for t in graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    locations = {entry.value for t in external for entry in t.external_data if entry.key == "location"}
    assert locations == {builtin_weights_path(name).name}
    assert sum(t.data_type == onnx.TensorProto.INT8 for t in external) >= 60
    embedded = [t for t in graph.initializer if t.data_location != onnx.TensorProto.EXTERNAL]
    assert max(len(t.raw_data) for t in embedded) < 1024  # index constants, mean/std: no weights
    assert builtin_graph_path(name).stat().st_size < 0.05 * builtin_weights_path(name).stat().st_size


def test_link_weights_replaces_only_exact_matches(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import save_file

    from depth_anything.export.builtin import link_weights
    from depth_anything.weights.files import SCALE_SUFFIX

    rng = np.random.default_rng(0)
    values = rng.integers(-127, 128, (32, 48), dtype=np.int8)
    scale = (rng.random(32) / 100).astype(np.float16)
    weight = values.astype(np.float32) * scale.astype(np.float32)[:, None]  # what the loader computes
    bias = rng.standard_normal(48).astype(np.float16)
    other = weight.copy()
    other[0, 0] += 1e-3  # not the dequantized tensor: stays float
    weights = tmp_path / "w.safetensors"
    save_file({"w": values, "w" + SCALE_SUFFIX: scale, "b": bias}, str(weights))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "wt"], ["a"]), helper.make_node("MatMul", ["a", "w"], ["b1"]),
         helper.make_node("Add", ["b1", "o"], ["c"]), helper.make_node("Add", ["c", "bias"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 48])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 48])],
        [numpy_helper.from_array(np.ascontiguousarray(weight.T), "wt"), numpy_helper.from_array(weight, "w"),
         numpy_helper.from_array(other[:2], "o"), numpy_helper.from_array(bias.astype(np.float32), "bias")],
    )
    plain = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    expected = ort.InferenceSession(plain.SerializeToString()).run(None, {"x": np.ones((2, 48), np.float32)})[0]
    assert link_weights(graph, weights, weights.name) == (3, 4)
    kinds = {t.name: (t.data_type, t.data_location) for t in graph.initializer}
    assert kinds["wt.stored"] == kinds["w.stored"] == (TensorProto.INT8, TensorProto.EXTERNAL)
    assert kinds["bias.stored"] == (TensorProto.FLOAT16, TensorProto.EXTERNAL)
    assert kinds["o"] == (TensorProto.FLOAT, TensorProto.DEFAULT) and "w" not in kinds and "wt" not in kinds
    stored = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(stored, str(tmp_path / "g.onnx"))
    onnx.checker.check_model(str(tmp_path / "g.onnx"))
    got = ort.InferenceSession(str(tmp_path / "g.onnx")).run(None, {"x": np.ones((2, 48), np.float32)})[0]
    np.testing.assert_array_equal(got, expected)


def test_auto_picks_onnxruntime_only_where_it_gives_pytorchs_result(tmp_path, monkeypatch):
    assert auto_backend(None) == auto_backend("default") == auto_backend("default-metric") == "onnxruntime"
    assert auto_backend("default", device="cpu", dtype="float32") == "onnxruntime"
    assert auto_backend("default", device="cuda") == "torch"
    assert auto_backend("default", device="cuda:1") == "torch"
    assert auto_backend("default", dtype="fp16") == "torch"
    assert auto_backend("vits") == "torch"
    assert auto_backend(str(builtin_weights_path("default"))) == "torch"  # a checkpoint path runs on torch
    real = __import__("importlib").util.find_spec
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    assert auto_backend("default") == "torch"
    monkeypatch.undo()
    torch = pytest.importorskip("torch")
    assert auto_backend("default", device=torch.device("cpu"), dtype=torch.float32) == "onnxruntime"
    assert auto_backend("default", device=torch.device("cuda", 0)) == "torch"
    assert auto_backend("default", dtype=torch.bfloat16) == auto_backend("default", dtype=torch.float64) == "torch"
    assert auto_backend("exported.onnx") == "onnxruntime" and auto_backend("exported.XML") == "openvino"
    monkeypatch.setattr(registry, "BUILTIN_DIR", tmp_path)
    assert shipped_graph("default") is None and auto_backend("default") == "torch"


def test_a_file_named_like_a_built_in_model_is_that_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve("default").builtin
    (tmp_path / "default").write_bytes(b"not a model")
    assert not resolve("default").builtin and shipped_graph("default") is None
    assert resolve("default").path.resolve() == tmp_path / "default"
    assert auto_backend("default") == "torch"  # and torch reads ./default, as load_model always has
    assert resolve(None).builtin and open_predictor().runtime.name == "onnxruntime"  # no model: always the built-in


def test_auto_falls_back_to_torch_when_the_graph_does_not_open(tmp_path, monkeypatch, caplog):
    """As with an onnxruntime too old for the graph's IR version: the built-in model still runs."""
    import shutil

    shutil.copy(builtin_weights_path("default"), tmp_path)
    (tmp_path / builtin_graph_path("default").name).write_bytes(b"\x08\x63 not an onnx graph")
    monkeypatch.setattr(registry, "BUILTIN_DIR", tmp_path)
    with caplog.at_level("WARNING"):
        predictor = open_predictor()
    assert predictor.runtime.name == "torch" and "running on torch instead" in caplog.text
    depth = predictor.predict_one(np.zeros((40, 56, 3), np.uint8))
    assert depth.shape == (40, 56)


def test_open_predictor_runs_the_graph_by_default_and_torch_when_asked(tmp_path):
    photo = _photo(tmp_path / "a.png")
    fast = open_predictor()
    assert fast.runtime.name == "onnxruntime" and fast.runtime.path == builtin_graph_path("default")
    reference = open_predictor(backend="torch")
    assert reference.runtime.name == "torch"
    got, expected = fast.predict_one(photo), reference.predict_one(photo)
    assert got.shape == expected.shape == (90, 120)
    assert np.abs(got - expected).max() < 1e-5 * (expected.max() - expected.min())
    metric = open_predictor("default-metric", backend="openvino")
    assert metric.runtime.name == "openvino" and metric.is_metric


def test_default_predict_never_imports_torch(tmp_path):
    """Through the console script's own path (no argv: sys.argv is read, the allocator policy is set)."""
    photo = _photo(tmp_path / "one.png")
    script = (
        "import sys\n"
        "from depth_anything.cli.__main__ import main\n"
        f"sys.argv = ['depth-anything', 'predict', {str(photo)!r}, '--outdir', {str(tmp_path / 'fast')!r}, "
        "'--formats', 'npy,side']\n"
        "code = main()\n"
        "print('TORCH', sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))[:3], code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "TORCH [] 0" in done.stdout, done.stdout + done.stderr
    assert main(["predict", str(photo), "--outdir", str(tmp_path / "torch"), "--formats", "npy", "--backend", "torch"]) == 0
    fast, reference = np.load(tmp_path / "fast" / "one.npy"), np.load(tmp_path / "torch" / "one.npy")
    assert np.abs(fast - reference).max() < 1e-5 * (reference.max() - reference.min())
    assert (tmp_path / "fast" / "one_side.png").is_file()


def test_exported_runtimes_obey_omp_num_threads(monkeypatch):
    """torch takes its thread count from $OMP_NUM_THREADS; ONNX Runtime would ignore it and take every core."""
    from depth_anything.inference import OnnxRuntime
    from depth_anything.inference.runtimes import default_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert default_threads(None) == 1 and default_threads(3) == 3
    assert OnnxRuntime(builtin_graph_path("default")).session.get_session_options().intra_op_num_threads == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "many")
    assert default_threads(None) is None
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert default_threads(None) is None


def test_onnx_runtime_pool_threads_spin_briefly():
    """Idle pool threads spin 20 µs, not ONNX Runtime's long default, so they leave the cores to the
    threads that read and write images beside the network (runtimes.ort_session_options)."""
    from depth_anything.inference import OnnxRuntime
    from depth_anything.inference.runtimes import ORT_SPIN_MICROSECONDS

    options = OnnxRuntime(builtin_graph_path("default")).session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.spin_duration_us") == str(ORT_SPIN_MICROSECONDS) == "20"


def test_python_api_default_predictor_never_imports_torch(tmp_path):
    photo = _photo(tmp_path / "one.png")
    script = (
        "import sys\n"
        "import depth_anything\n"
        f"depth = depth_anything.open_predictor().predict_one({str(photo)!r})\n"
        "print('SHAPE', depth.shape, 'TORCH', 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "SHAPE (90, 120) TORCH False" in done.stdout, done.stdout + done.stderr
