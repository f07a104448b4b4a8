"""Batching, the queue bound, timeouts, workers and shutdown of a running server. No test measures time:
each waits for a state the server reports (/metrics) and checks what comes back."""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from server_process import ServerProcess, encoded, metric_samples, photo

from depth_anything.cli.__main__ import main


def post(url: str, data: bytes, timeout: float = 120, **params) -> httpx.Response:
    return httpx.post(f"{url}/v1/depth", content=data, headers={"Content-Type": "image/png"}, params=params,
                      timeout=timeout)


def metric(url: str, name: str, labels: str = "") -> float:
    return metric_samples(httpx.get(f"{url}/metrics", timeout=30).text, f"depth_anything_serve_{name}").get(labels, 0.0)


def wait_for(condition, what: str, limit_s: float = 60.0) -> None:
    """Poll until `condition()` holds (the limit only stops a broken server from hanging the suite)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"the server never reached: {what}")
        time.sleep(0.05)


def predicted_npy(tmp_path, images: dict[str, bytes]) -> dict[str, np.ndarray]:
    for name, data in images.items():
        (tmp_path / f"{name}.png").write_bytes(data)
    assert main(["predict", str(tmp_path), "--outdir", str(tmp_path / "out"), "--formats", "npy", "--no-progress"]) == 0
    return {name: np.load(tmp_path / "out" / f"{name}.npy") for name in images}


def test_concurrent_requests_of_one_shape_run_as_one_batch(tmp_path):
    images = {f"p{i}": encoded(photo(seed=i)) for i in range(4)}
    expected = predicted_npy(tmp_path, images)
    # a batch runs when 4 requests of one shape are there (or after 30 s): the 4 sent at once run together
    with ServerProcess(["--max-batch", "4", "--max-wait-ms", "30000"]) as server:
        with ThreadPoolExecutor(4) as pool:
            answers = dict(zip(images, pool.map(lambda d: post(server.url, d, format="npy"), images.values()), strict=True))
        for name, answer in answers.items():
            assert answer.status_code == 200, answer.text
            depth = np.load(io.BytesIO(answer.content))
            np.testing.assert_allclose(depth, expected[name], rtol=1e-6, atol=1e-6 * float(np.abs(expected[name]).max()))
        text = httpx.get(f"{server.url}/metrics").text
    batches = metric_samples(text, "depth_anything_serve_batch_size_count")[""]
    singles = metric_samples(text, "depth_anything_serve_batch_size_bucket")['{le="1"}']
    total = metric_samples(text, "depth_anything_serve_batch_size_sum")[""]
    assert total == 4
    assert batches - singles >= 1  # at least one batch held more than one request
    assert metric_samples(text, "depth_anything_serve_batch_size_bucket")['{le="4"}'] == batches


def test_images_of_different_shapes_are_not_batched_together():
    # max-batch 2 and a long wait: two requests of different shapes can only leave the queue by the wait
    with ServerProcess(["--max-batch", "2", "--max-wait-ms", "300"]) as server:
        with ThreadPoolExecutor(2) as pool:
            shapes = [encoded(photo(120, 160)), encoded(photo(160, 120))]
            answers = list(pool.map(lambda d: post(server.url, d, format="json"), shapes))
        assert [(a.json()["width"], a.json()["height"]) for a in answers] == [(160, 120), (120, 160)]
        text = httpx.get(f"{server.url}/metrics").text
    buckets = metric_samples(text, "depth_anything_serve_batch_size_bucket")
    assert buckets['{le="1"}'] == buckets['{le="+Inf"}'] == 2  # each request alone


@pytest.fixture(scope="module")
def queue_server():
    # one request waits up to 30 s for a second of its shape, so a queue of 1 is full while it waits;
    # the request timeout (5 s) ends its wait
    with ServerProcess(["--max-batch", "2", "--max-wait-ms", "30000", "--max-queue", "1",
                        "--request-timeout", "5"]) as running:
        yield running


def test_a_full_queue_answers_503_with_retry_after_and_a_slow_request_504(queue_server):
    url, image = queue_server.url, encoded(photo())
    first: list[httpx.Response] = []
    waiting = threading.Thread(target=lambda: first.append(post(url, image, format="npy")))
    waiting.start()
    wait_for(lambda: metric(url, "queue_depth") == 1 or not waiting.is_alive(), "one request queued")
    second = post(url, image, format="npy")
    assert second.status_code == 503, second.text
    assert second.json()["error"] == "queue_full"
    assert int(second.headers["retry-after"]) >= 1
    waiting.join()
    assert first[0].status_code == 504 and first[0].json()["error"] == "timeout"
    wait_for(lambda: metric(url, "queue_depth") == 0, "the timed-out request withdrawn")
    errors = metric_samples(httpx.get(f"{url}/metrics").text, "depth_anything_serve_errors_total")
    assert errors['{kind="queue_full"}'] == 1 and errors['{kind="timeout"}'] == 1


def test_sigterm_lets_the_request_in_flight_finish(tmp_path):
    image = encoded(photo())
    expected = predicted_npy(tmp_path, {"p": image})["p"]
    server = ServerProcess(["--max-batch", "2", "--max-wait-ms", "3000"]).start()
    try:
        answers: list[httpx.Response] = []
        request = threading.Thread(target=lambda: answers.append(post(server.url, image, format="npy")))
        request.start()
        wait_for(lambda: metric(server.url, "queue_depth") == 1, "the request queued")
        server.terminate()
        request.join()
        assert server.wait(60) == 0, server.log
    finally:
        server.stop()
    assert answers[0].status_code == 200, answers[0].text
    assert np.array_equal(np.load(io.BytesIO(answers[0].content)), expected)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/healthz", timeout=5)


def test_workers_share_the_port_and_the_metrics():
    image = encoded(photo())
    with ServerProcess(["--workers", "2"]) as server:
        # /readyz answered by one worker: wait until both have loaded their model
        wait_for(lambda: metric(server.url, "models_loaded") == 2, "both workers ready")
        for _ in range(6):
            assert post(server.url, image, format="npy").status_code == 200
        # each worker shares its counts within a second; any worker's /metrics adds them all up
        wait_for(lambda: metric(server.url, "requests_total", '{code="200",format="npy",model="default"}') == 6,
                 "six answers counted")
        assert "workers: 2" in server.log
