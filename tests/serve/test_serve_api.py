"""The endpoints of a running server: answers byte for byte what `depth-anything predict` writes, headers
that say how to read them, the model list, health and readiness."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest
from PIL import Image
from server_process import encoded, photo

from depth_anything.cli.__main__ import main


@pytest.fixture(scope="module")
def predicted(images, tmp_path_factory):
    """`depth-anything predict` outputs (png16, npy, colour picture) for the test images, at the default
    input size and at 160."""
    out = {}
    for size in (None, 160):
        folder = tmp_path_factory.mktemp(f"predict_{size}")
        argv = ["predict", *map(str, images.values()), "--outdir", str(folder), "--formats", "png16,npy,color",
                "--no-progress"]
        assert main(argv + (["--input-size", str(size)] if size else [])) == 0
        out[size] = folder
    return out


def post(url: str, data: bytes, content_type: str = "image/png", **params) -> httpx.Response:
    return httpx.post(f"{url}/v1/depth", content=data, headers={"Content-Type": content_type}, params=params, timeout=60)


@pytest.mark.parametrize("name", ["a.png", "b.jpg"])
@pytest.mark.parametrize("size", [None, 160])
def test_answers_are_the_bytes_predict_writes(server, images, predicted, name, size):
    data = images[name].read_bytes()
    stem = images[name].stem
    folder = predicted[size]
    extra = {"input_size": size} if size else {}
    content_type = "image/jpeg" if name.endswith(".jpg") else "image/png"
    png16 = post(server.url, data, content_type, format="png16", **extra)
    assert png16.status_code == 200, png16.text
    assert png16.headers["content-type"] == "image/png"
    assert png16.content == (folder / f"{stem}_depth16.png").read_bytes()
    npy = post(server.url, data, content_type, format="npy", **extra)
    assert npy.content == (folder / f"{stem}.npy").read_bytes()
    colour = post(server.url, data, content_type, format="png", **extra)
    assert colour.content == (folder / f"{stem}_depth.png").read_bytes()


def test_multipart_upload_gives_the_same_answer(server, images, predicted):
    data = images["a.png"].read_bytes()
    answer = httpx.post(f"{server.url}/v1/depth", params={"format": "npy"}, timeout=60,
                        files={"image": ("a.png", data, "image/png")}, data={"note": "ignored"})
    assert answer.status_code == 200, answer.text
    assert answer.content == (predicted[None] / "a.npy").read_bytes()
    # the first file part is taken when no field is called `image` or `file`
    other = httpx.post(f"{server.url}/v1/depth", params={"format": "npy"}, timeout=60,
                       files={"upload": ("a.png", data, "image/png")})
    assert other.content == answer.content


def test_headers_say_how_to_read_the_numbers(server, images, predicted):
    data = images["a.png"].read_bytes()
    depth = np.load(predicted[None] / "a.npy")
    answer = post(server.url, data, format="png16")
    headers = answer.headers
    assert headers["x-depth-kind"] == "relative" and headers["x-depth-units"] == "relative"
    assert headers["x-image-size"] == f"{depth.shape[1]}x{depth.shape[0]}"
    assert float(headers["x-depth-min"]) == pytest.approx(float(depth.min()))
    stored = np.asarray(Image.open(io.BytesIO(answer.content)), dtype=np.float64)
    recovered = stored / float(headers["x-depth-scale"]) + float(headers["x-depth-offset"])
    span = float(depth.max() - depth.min())
    assert np.abs(recovered - depth).max() <= span / 65535  # within the 16-bit step
    npy = post(server.url, data, format="npy").headers
    assert (float(npy["x-depth-scale"]), float(npy["x-depth-offset"])) == (1.0, 0.0)


def test_json_answer_is_an_averaged_grid(server, images, predicted):
    answer = post(server.url, images["a.png"].read_bytes(), format="json", grid=16)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    body = answer.json()
    depth = np.load(predicted[None] / "a.npy")
    assert (body["width"], body["height"], body["grid_width"], body["grid_height"]) == (160, 120, 16, 12)
    grid = np.asarray(body["depth"], dtype=np.float64)
    assert grid.shape == (12, 16)
    block_means = depth.reshape(12, 10, 16, 10).mean(axis=(1, 3))  # 10×10 pixels per cell
    assert np.allclose(grid, block_means, rtol=1e-4, atol=1e-4 * float(depth.max()))
    assert body["kind"] == "relative" and body["min"] == pytest.approx(float(depth.min()))


def test_model_list_names_kind_and_input_spec(server):
    listing = httpx.get(f"{server.url}/v1/models", timeout=30).json()
    assert listing["default"] == "default" and listing["ready"] is True
    (loaded,) = listing["loaded"]
    assert loaded["name"] == "default" and loaded["kind"] == "relative" and loaded["backend"] == "onnxruntime"
    assert loaded["input_spec"]["input_size"] == 128 and loaded["input_spec"]["output"] == "disparity"
    available = {m["name"]: m for m in listing["available"]}
    assert available["default-metric"]["kind"] == "metric" and available["default-metric"]["loaded"] is False
    assert available["default-metric"]["input_spec"]["max_depth"] == 20.0


def test_health_readiness_and_schema(server):
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200 and ready.json()["models"] == ["default"]
    schema = httpx.get(f"{server.url}/openapi.json").json()
    operation = schema["paths"]["/v1/depth"]["post"]
    assert {p["name"] for p in operation["parameters"]} >= {"model", "format", "input_size"}
    assert "multipart/form-data" in operation["requestBody"]["content"]


def test_metrics_are_prometheus_text(server, images):
    post(server.url, images["a.png"].read_bytes(), format="npy")
    post(server.url, b"not an image", format="npy")
    answer = httpx.get(f"{server.url}/metrics")
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = answer.text
    for name in ("requests_total", "errors_total", "request_seconds", "batch_size", "queue_depth", "in_flight"):
        assert f"# TYPE depth_anything_serve_{name} " in text
    assert 'depth_anything_serve_requests_total{code="200",format="npy",model="default"}' in text
    assert 'depth_anything_serve_errors_total{kind="not_an_image"}' in text
    assert 'depth_anything_serve_request_seconds_bucket{le="+Inf"}' in text


def test_a_small_image_is_answered_at_its_own_size(server):
    answer = post(server.url, encoded(photo(9, 7)), format="json", grid=64)
    assert answer.status_code == 200
    assert (answer.json()["width"], answer.json()["height"]) == (7, 9)
    assert json.loads(answer.content)["grid_width"] == 7
