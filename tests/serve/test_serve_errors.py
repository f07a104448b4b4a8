"""Every refusal of a running server: status, JSON naming the problem, the error counter, and a process that
keeps answering afterwards."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from server_process import ServerProcess, encoded, metric_samples, photo


def post(url: str, data: bytes, content_type: str = "image/png", **params) -> httpx.Response:
    return httpx.post(f"{url}/v1/depth", content=data, headers={"Content-Type": content_type}, params=params, timeout=60)


def refused(answer: httpx.Response, status: int, kind: str) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == kind and body["status"] == status and body["message"]
    return body


def test_413_for_a_large_body_with_or_without_content_length(server):
    refused(post(server.url, os.urandom(1_200_000)), 413, "body_too_large")

    def chunks():  # chunked transfer: no Content-Length, the limit is counted as the body streams in
        for _ in range(20):
            yield os.urandom(100_000)

    answer = httpx.post(f"{server.url}/v1/depth", content=chunks(), headers={"Content-Type": "image/png"}, timeout=60)
    assert "content-length" not in answer.request.headers
    refused(answer, 413, "body_too_large")


def test_413_for_too_many_pixels_before_decoding(server):
    blank = encoded(photo(1, 1)[:1, :1].repeat(1100, axis=0).repeat(1000, axis=1))  # 1.1 megapixels, a few kB
    assert len(blank) < 1_000_000
    body = refused(post(server.url, blank), 413, "too_many_pixels")
    assert "1000×1100" in body["message"] and "max_pixels" in body["message"]


def test_413_for_a_long_thin_image_whose_network_input_would_be_huge(server):
    """A 1×4000 picture passes the pixel limit, but its short side scaled to the input size would make a
    network input of gigabytes: refused before preprocessing (limit 4 × 512² here); a 2:1 image runs."""
    strip = encoded(photo(1, 1)[:1, :1].repeat(4000, axis=1))
    body = refused(post(server.url, strip), 413, "network_input_too_large")
    assert "4000×1 image" in body["message"] and "max_input_size" in body["message"]
    assert post(server.url, encoded(photo(40, 80)), format="npy").status_code == 200


def test_415_for_what_is_not_an_image(server):
    body = refused(post(server.url, b"hello", "text/plain"), 415, "unsupported_media_type")
    assert "text/plain" in body["message"]
    body = refused(post(server.url, b"%PDF-1.4 not an image at all", "image/png"), 415, "not_an_image")
    assert "%PDF" in body["message"]


def test_422_for_a_truncated_image_and_bad_queries(server):
    whole = encoded(photo())
    body = refused(post(server.url, whole[: len(whole) // 2]), 422, "unreadable_image")
    assert "truncated" in body["message"]
    refused(post(server.url, b""), 422, "empty_image")
    body = refused(post(server.url, whole, format="tiff"), 422, "invalid_query")
    assert "format" in body["message"]
    assert "input_size" in refused(post(server.url, whole, input_size=4096), 422, "invalid_query")["message"]
    assert "below the model's patch size" in refused(post(server.url, whole, input_size=8), 422, "bad_input_size")["message"]
    body = refused(post(server.url, whole, model="vitl"), 422, "unknown_model")
    assert "models=[..., 'vitl']" in body["message"] and "loaded: default" in body["message"]
    assert "cmap" in refused(post(server.url, whole, format="png", cmap="no-such-map"), 422, "invalid_query")["message"]
    no_file = httpx.post(f"{server.url}/v1/depth", data={"note": "x"}, files={"text": (None, "not a file")}, timeout=30)
    refused(no_file, 422, "no_image_field")


def test_errors_are_counted_by_kind_and_the_server_goes_on(server):
    post(server.url, b"hello", "text/plain")
    post(server.url, encoded(photo()), model="made-up-name-123")
    text = httpx.get(f"{server.url}/metrics").text
    errors = metric_samples(text, "depth_anything_serve_errors_total")
    assert errors['{kind="unsupported_media_type"}'] >= 1 and errors['{kind="unknown_model"}'] >= 1
    # names from the query never become labels (a client could otherwise grow the series without end)
    assert "made-up-name-123" not in text and 'model="unknown"' in text
    assert post(server.url, encoded(photo()), format="npy").status_code == 200


@pytest.fixture(scope="module")
def token_server():
    with ServerProcess(env={"DEPTH_ANYTHING_TOKEN": "s3cret-token"}) as running:
        yield running


def test_401_without_the_bearer_token(token_server):
    url, image = token_server.url, encoded(photo())
    answer = post(url, image)
    refused(answer, 401, "unauthorized")
    assert answer.headers["www-authenticate"].startswith("Bearer")
    for header in ("Bearer wrong-token", "Bearer s3cret-toke", "Basic s3cret-token", "s3cret-token"):
        answer = httpx.post(f"{url}/v1/depth", content=image, headers={"Authorization": header}, timeout=30)
        assert answer.status_code == 401, header
    assert httpx.get(f"{url}/metrics").status_code == 401
    assert httpx.get(f"{url}/v1/models").status_code == 401
    good = {"Authorization": "Bearer s3cret-token", "Content-Type": "image/png"}
    assert httpx.post(f"{url}/v1/depth", content=image, headers=good, timeout=30).status_code == 200
    assert httpx.get(f"{url}/metrics", headers=good).status_code == 200
    # probes of load balancers carry no token
    assert httpx.get(f"{url}/healthz").status_code == 200 and httpx.get(f"{url}/readyz").status_code == 200


def test_not_ready_until_the_models_load_and_503_meanwhile(tmp_path):
    missing = tmp_path / "missing_model.pth"  # a path: resolved without a look, so it fails while loading
    with ServerProcess(["--model", str(missing)], wait_for="/healthz") as server:
        ready = httpx.get(f"{server.url}/readyz")
        deadline_polls = 600
        while ready.json()["error"] is None and deadline_polls:  # loading runs in the background
            ready = httpx.get(f"{server.url}/readyz")
            deadline_polls -= 1
        assert ready.status_code == 503 and ready.json()["ready"] is False
        assert "missing_model.pth" in ready.json()["error"]
        answer = post(server.url, encoded(photo()))
        body = refused(answer, 503, "not_ready")
        assert "missing_model.pth" in body["message"] and answer.headers["retry-after"] == "5"
        assert httpx.get(f"{server.url}/healthz").status_code == 200  # the process itself is alive


def test_unknown_and_video_model_names_fail_before_serving(capsys):
    from depth_anything.cli.__main__ import main

    # an address nobody can bind: were the names not checked first, the bind would be the error
    assert main(["serve", "--model", "vitx", "--host", "256.0.0.1"]) == 2
    assert "'vitx' is neither an existing file nor a known model name" in capsys.readouterr().err
    assert main(["serve", "--model", "video-vits", "--host", "256.0.0.1"]) == 2
    assert "video model" in capsys.readouterr().err
    assert main(["serve", "--host", "256.0.0.1"]) == 2
    assert "cannot listen on 256.0.0.1:8000" in capsys.readouterr().err


def test_a_slow_loading_model_is_not_ready_then_ready(tmp_path):
    """A real slow load: a checkpoint that `backend auto` compiles for OpenVINO on first use (tens of
    seconds). Meanwhile /healthz answers, /readyz and /v1/depth say 503 with Retry-After; then both serve."""
    pytest.importorskip("openvino")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: model_helpers
    from model_helpers import randomize_, tiny_config

    from depth_anything.models import build_model
    from depth_anything.transforms import InputSpec
    from depth_anything.weights.files import save_checkpoint

    checkpoint = save_checkpoint(randomize_(build_model(tiny_config()), seed=6).eval(), tmp_path / "tiny.pth",
                                 input_spec=InputSpec(input_size=56))
    env = {"DEPTH_ANYTHING_COMPILE": "on", "DEPTH_ANYTHING_CACHE": str(tmp_path / "cache")}
    with ServerProcess(["--model", str(checkpoint)], env=env, wait_for="/healthz", ready_timeout=300) as server:
        early = httpx.get(f"{server.url}/readyz")
        assert early.status_code == 503 and early.json()["ready"] is False and early.json()["error"] is None
        assert early.headers["retry-after"] == "5"
        refused(post(server.url, encoded(photo())), 503, "not_ready")
        for _ in range(3000):  # the compile takes tens of seconds
            ready = httpx.get(f"{server.url}/readyz")
            if ready.status_code == 200:
                break
            time.sleep(0.1)
        assert ready.status_code == 200 and ready.json()["ready"] is True, server.log
        answer = post(server.url, encoded(photo()))
        assert answer.status_code == 200, server.log[-3000:]
        assert "compiled" in server.log and "openvino" in server.log  # the first-use compile was reported
