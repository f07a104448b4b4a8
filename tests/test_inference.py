"""The predictor: mixed sizes and formats in, per-image depth at original size out, same as infer_image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import randomize_, tiny_config
from PIL import Image

from depth_anything import Predictor, build_model
from depth_anything.errors import ImageReadError


@pytest.fixture(scope="module")
def model():
    return randomize_(build_model(tiny_config()), seed=21).eval()


def _images():
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, size=shape, dtype=np.uint8) for shape in [(97, 131, 3), (60, 45, 3), (97, 131, 3), (30, 30, 3)]]


def test_infer_image_uses_reference_input_size_and_returns_original_size(model):
    seen = []
    handle = model.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape)))
    try:
        out = model.infer_image(_images()[0][:, :, ::-1].copy(), input_size=140)
    finally:
        handle.remove()
    assert seen == [(1, 3, 140, 196)]  # MODEL_SPEC: 97×131 at input_size 140 → 140×196
    assert out.shape == (97, 131) and out.dtype == np.float32


def test_predictor_matches_infer_image_for_mixed_sizes(model):
    images = _images()
    predictor = Predictor(model, device="cpu", input_size=70, batch_size=2)
    outputs = predictor.predict(images)
    assert [o.shape for o in outputs] == [i.shape[:2] for i in images]
    for rgb, out in zip(images, outputs, strict=False):
        single = model.infer_image(np.ascontiguousarray(rgb[:, :, ::-1]), input_size=70)
        np.testing.assert_allclose(out, single, rtol=1e-4, atol=1e-5)
    assert not np.allclose(outputs[0], outputs[2])  # different images, different depth


def test_predictor_batches_same_shaped_inputs(model):
    calls = []
    handle = model.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape[0]))
    try:
        Predictor(model, input_size=70, batch_size=4).predict(_images())
    finally:
        handle.remove()
    assert sorted(calls) == [1, 1, 2]  # the two 97×131 images share one batch


def test_predictor_steps_give_predicts_maps(model):
    """prepare, run_prepared and full_size, run apart as the HTTP server runs them, give `predict`'s maps
    exactly, and run_prepared batches `batch_size` inputs at a time."""
    images = _images()
    predictor = Predictor(model, input_size=70, batch_size=2)
    expected = predictor.predict(images)
    same_shape = [predictor.prepare(images[i]) for i in (0, 2)]
    assert same_shape[0][1] == (97, 131) and same_shape[0][0].shape == (3, 70, 98)
    calls = []
    handle = model.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape[0]))
    try:
        raws = predictor.run_prepared([prepared for prepared, _ in same_shape] * 2)
    finally:
        handle.remove()
    assert calls == [2, 2] and len(raws) == 4
    for raw, (_, size), index in zip(raws, same_shape * 2, (0, 2, 0, 2), strict=True):
        np.testing.assert_array_equal(predictor.full_size(raw, size), expected[index])


def test_predictor_reads_paths_pil_gray_rgba_16bit(model, tmp_path):
    rgb = _images()[1]
    Image.fromarray(rgb).save(tmp_path / "a.png")
    gray = rgb.mean(axis=2).astype(np.uint8)
    sixteen = rgb.astype(np.uint16) * 257
    inputs = [tmp_path / "a.png", str(tmp_path / "a.png"), Image.fromarray(rgb), gray, np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)]), sixteen]
    outputs = Predictor(model, input_size=42).predict(inputs)
    assert all(o.shape == rgb.shape[:2] for o in outputs)
    np.testing.assert_allclose(outputs[0], outputs[1])
    np.testing.assert_allclose(outputs[0], outputs[2])
    np.testing.assert_allclose(outputs[0], outputs[4], atol=1e-6)  # alpha ignored
    np.testing.assert_allclose(outputs[0], outputs[5], atol=1e-4)  # 16-bit = same colours at 8 bits × 257


def test_predictor_names_a_truncated_file(model, tmp_path):
    Image.fromarray(_images()[0]).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:200])
    with pytest.raises(ImageReadError, match="cut.png"):
        Predictor(model, input_size=42).predict([tmp_path / "ok.png", tmp_path / "cut.png"])


def test_predictor_streams_in_order_and_runs_in_bfloat16(model):
    images = [np.full((28, 28 + i, 3), 10 * i, np.uint8) for i in range(11)]
    streamed = list(Predictor(model, input_size=28, batch_size=1).iter_predict(iter(images)))
    assert [s.shape for s in streamed] == [(28, 28 + i) for i in range(11)]
    low = Predictor(randomize_(build_model(tiny_config()), seed=21), dtype="bf16", input_size=28).predict(images[:2])
    np.testing.assert_allclose(low[0], streamed[0], rtol=0.1, atol=0.05)
    assert low[0].dtype == np.float32
    with pytest.raises(ValueError, match="dtype"):
        Predictor(model, dtype="int3")
    half = randomize_(build_model(tiny_config()), seed=21).to(torch.bfloat16)
    assert Predictor(half).dtype == torch.bfloat16  # no dtype asked: the model keeps its own


def test_metric_model_outputs_metres_within_range():
    metric = randomize_(build_model(tiny_config(max_depth=20.0)), seed=5).eval()
    with torch.no_grad():
        out = metric(torch.randn(2, 3, 42, 56))
    assert out.shape == (2, 42, 56) and float(out.min()) >= 0 and float(out.max()) <= 20.0


def test_iter_results_skips_and_reports_bad_files(model, tmp_path):
    Image.fromarray(_images()[1]).save(tmp_path / "ok.png")
    (tmp_path / "bad.jpg").write_text("nope")
    results = list(Predictor(model, input_size=42).iter_results([tmp_path / "ok.png", tmp_path / "bad.jpg", tmp_path / "ok.png"]))
    assert [r.error is None for r in results] == [True, False, True]
    assert "bad.jpg" in results[1].error and results[1].depth is None
    np.testing.assert_allclose(results[0].depth, results[2].depth)


def test_a_lone_image_where_a_list_belongs_is_refused_not_iterated(model, tmp_path):
    predictor = Predictor(model, input_size=56)
    rgb = np.zeros((40, 60, 3), np.uint8)
    Image.fromarray(rgb).save(tmp_path / "one.png")
    for lone in (rgb, Image.fromarray(rgb), str(tmp_path / "one.png"), tmp_path / "one.png"):
        with pytest.raises(TypeError, match=r"expected a list of images.*predict_one"):
            predictor.predict(lone)
    assert predictor.predict_one(rgb).shape == (40, 60)
    assert [d.shape for d in predictor.predict(np.stack([rgb, rgb]))] == [(40, 60), (40, 60)]  # a batch array is a list
