"""Exported files under the one Predictor: ONNX Runtime and OpenVINO give PyTorch's maps through the
same pre- and post-processing; files that do not fit the request are refused with what to change."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from depth_anything.cli.__main__ import main
from depth_anything.errors import ExportError
from depth_anything.inference import OnnxRuntime, Predictor
from depth_anything.loading import open_predictor
from depth_anything.transforms import preprocess

TOLERANCE = 1e-4


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size, dtype=np.uint8) for size in [(90, 120, 3), (150, 100, 3), (64, 64, 3)]]


def _assert_same_maps(expected: list[np.ndarray], got: list[np.ndarray]) -> None:
    for e, g in zip(expected, got, strict=True):
        assert e.shape == g.shape
        assert float(np.abs(e - g).max()) <= TOLERANCE * float(e.max() - e.min())


@pytest.mark.parametrize("kind", ["relative", "metric"])
def test_predictor_on_onnxruntime_matches_torch(kind, relative_dynamic, metric_dynamic, relative_model, metric_model):
    (path, _), model = (relative_dynamic, relative_model) if kind == "relative" else (metric_dynamic, metric_model)
    images = _images()
    expected = Predictor(model, input_size=140, batch_size=2).predict(images)
    predictor = open_predictor(path, backend="onnxruntime", input_size=140, batch_size=2)
    assert predictor.is_metric == (kind == "metric")
    _assert_same_maps(expected, predictor.predict(images))


def test_exported_runtimes_get_the_unnormalised_image(relative_dynamic):
    """One preprocessing: the same resize, minus the mean/std step that the graph does itself."""
    runtime = OnnxRuntime(relative_dynamic[0])
    assert runtime.normalized_input is False
    image = _images()[0]
    normalised = preprocess(image, 140)
    unit = preprocess(image, 140, normalize_input=False)
    mean, std = np.array(runtime.input_spec.mean)[:, None, None], np.array(runtime.input_spec.std)[:, None, None]
    assert 0.4 < float(unit.mean()) < 0.6  # uniform noise in [0, 1], resized (not mean/std-normalised)
    np.testing.assert_allclose((unit - mean) / std, normalised, atol=1e-5)


def test_predict_cli_with_onnxruntime_backend(relative_dynamic, relative_model, tmp_path):
    import cv2

    image = _images()[1]
    cv2.imwrite(str(tmp_path / "a.png"), image[:, :, ::-1])
    for backend, model in [("torch", None), ("onnxruntime", relative_dynamic[0])]:
        if model is None:
            from depth_anything.weights import save_checkpoint

            model = save_checkpoint(relative_model, tmp_path / "tiny.pt")
        out = tmp_path / backend
        assert main(["predict", str(tmp_path / "a.png"), "--model", str(model), "--backend", backend, "--outdir", str(out),
                     "--formats", "npy", "--input-size", "140", "--device", "cpu"]) == 0
    _assert_same_maps([np.load(tmp_path / "torch" / "a.npy")], [np.load(tmp_path / "onnxruntime" / "a.npy")])


def test_static_file_refuses_other_sizes_and_runs_its_own(exports, relative_model):
    path, _ = exports("static_b2", relative_model, height=140, width=196, batch=2)
    with pytest.raises(ExportError, match=r"static size 140×196.*input_size=140 \(or none\).*dynamic=True"):
        open_predictor(path, backend="onnxruntime", input_size=280)
    predictor = open_predictor(path, backend="onnxruntime", batch_size=3)  # static batch 2: run in chunks of 2
    assert predictor.input_size == 140
    images = [np.random.default_rng(i).integers(0, 256, (100, 140, 3), dtype=np.uint8) for i in range(3)]  # → 140×196
    _assert_same_maps(Predictor(relative_model, input_size=140, batch_size=3).predict(images), predictor.predict(images))
    with pytest.raises(ExportError, match=r"takes 140×196 inputs only.*network input is 140×140.*dynamic=True"):
        predictor.predict([np.zeros((50, 50, 3), np.uint8)])


def test_files_that_are_not_exports_are_refused(relative_dynamic, relative_model, tmp_path):
    proto = onnx.load(str(relative_dynamic[0]))
    del proto.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(proto, str(bare))
    with pytest.raises(ExportError, match="no depth-anything export metadata.*`export_onnx` \\(`depth-anything export`\\)"):
        open_predictor(bare, backend="onnxruntime")
    from depth_anything.weights import save_checkpoint

    checkpoint = save_checkpoint(relative_model, tmp_path / "tiny.pt")
    with pytest.raises(ExportError, match="not an exported model.*backend=torch"):
        open_predictor(checkpoint, backend="onnxruntime")
    with pytest.raises(ExportError, match="is an exported model; run it with backend="):
        open_predictor(relative_dynamic[0], backend="torch")
    (tmp_path / "m.xml").write_text("<net/>")
    with pytest.raises(ExportError, match="a file for backend=openvino"):
        open_predictor(tmp_path / "m.xml", backend="onnxruntime")
    with pytest.raises(ExportError, match="does not exist"):
        open_predictor(tmp_path / "missing.onnx", backend="onnxruntime")
    with pytest.raises(ExportError, match="computes in fp32.*without|export again"):
        open_predictor(relative_dynamic[0], backend="onnxruntime", dtype="fp16")
