"""The server's parts on their own: the batching queue, the metrics text, the token check, multipart bodies,
the settings that travel to the workers."""

from __future__ import annotations

import threading

import pytest
from server_process import encoded, photo

from depth_anything.errors import ConfigError
from depth_anything.serve.batching import BatchQueue, QueueFull, QueueStopped
from depth_anything.serve.config import ModelChoice, ServeConfig
from depth_anything.serve.limits import RequestError, decode_upload, image_bytes, token_matches
from depth_anything.serve.metrics import Metrics, SharedMetrics


def test_queue_groups_by_key_and_fills_batches():
    seen: list[tuple[str, list[int]]] = []
    release = threading.Event()

    def run(key, payloads):
        release.wait(10)  # the first batch holds the worker while the others queue up
        seen.append((key, list(payloads)))
        return [p * 10 for p in payloads]

    queue = BatchQueue(run, max_batch=3, max_wait_s=0.0, max_queue=16)
    queue.start()
    futures = []
    for i, key in enumerate(["a", "a", "b", "a", "a", "b", "a"]):
        ticket = queue.admit()
        futures.append(queue.submit(ticket, key, i))
        if i == 0:  # let the worker take the first one alone, then block it
            while queue.waiting:
                pass
    release.set()
    assert [f.result(10) for f in futures] == [0, 10, 20, 30, 40, 50, 60]
    queue.stop(10)
    assert seen[0] == ("a", [0])
    assert seen[1:] == [("a", [1, 3, 4]), ("b", [2, 5]), ("a", [6])]  # oldest first, never mixing keys


def test_queue_refuses_beyond_its_bound_and_after_stop():
    queue = BatchQueue(lambda key, payloads: payloads, max_batch=2, max_wait_s=60.0, max_queue=2)
    first, second = queue.admit(), queue.admit()
    with pytest.raises(QueueFull) as refused:
        queue.admit()
    assert refused.value.retry_after_s >= 1
    queue.release(first)  # a request that gave up frees its place
    third = queue.admit()
    queue.start()
    futures = [queue.submit(second, "k", 1), queue.submit(third, "k", 2)]
    assert [f.result(10) for f in futures] == [1, 2]
    queue.stop(10)
    with pytest.raises(QueueStopped):
        queue.admit()


def test_a_failing_batch_fails_its_requests_and_the_worker_goes_on():
    def run(key, payloads):
        if key == "bad":
            raise RuntimeError("out of memory")
        return payloads

    queue = BatchQueue(run, max_batch=4, max_wait_s=0.0, max_queue=4)
    queue.start()
    bad = queue.submit(queue.admit(), "bad", 1)
    with pytest.raises(RuntimeError, match="out of memory"):
        bad.result(10)
    assert queue.submit(queue.admit(), "good", 2).result(10) == 2
    queue.stop(10)


def test_stop_runs_the_queued_requests_without_waiting():
    queue = BatchQueue(lambda key, payloads: payloads, max_batch=8, max_wait_s=3600.0, max_queue=4)
    queue.start()
    future = queue.submit(queue.admit(), "k", "done")
    queue.stop(10)  # the hour-long wait for company is cut short
    assert future.result(0) == "done"


def test_metrics_text_format_and_merging_of_workers(tmp_path):
    metrics = Metrics()
    metrics.declare("requests_total", "counter", "Requests.")
    metrics.declare("queue_depth", "gauge", "Waiting.")
    metrics.declare("latency_seconds", "histogram", "Latency.", (0.1, 1.0))
    metrics.inc("requests_total", {"code": "200"})
    metrics.inc("requests_total", {"code": "200"})
    metrics.set("queue_depth", 3)
    for value in (0.05, 0.5, 5.0):
        metrics.observe("latency_seconds", value)
    text = metrics.text()
    assert "# TYPE depth_anything_serve_requests_total counter\n" in text
    assert 'depth_anything_serve_requests_total{code="200"} 2\n' in text
    assert 'depth_anything_serve_latency_seconds_bucket{le="0.1"} 1\n' in text
    assert 'depth_anything_serve_latency_seconds_bucket{le="1"} 2\n' in text
    assert 'depth_anything_serve_latency_seconds_bucket{le="+Inf"} 3\n' in text
    assert "depth_anything_serve_latency_seconds_count 3\n" in text
    # another worker's file: its counters add up; its gauge only while it lives
    other = Metrics()
    for name, kind in (("requests_total", "counter"), ("queue_depth", "gauge")):
        other.declare(name, kind, "x")
    other.inc("requests_total", {"code": "200"}, 5)
    other.set("queue_depth", 4)
    merged = metrics.text([(other.snapshot(), True)])
    assert 'requests_total{code="200"} 7\n' in merged and "queue_depth 7\n" in merged
    gone = metrics.text([(other.snapshot(), False)])
    assert 'requests_total{code="200"} 7\n' in gone and "queue_depth 3\n" in gone
    shared = SharedMetrics(metrics, tmp_path)
    shared.write()
    assert shared.path.is_file() and 'requests_total{code="200"} 2\n' in shared.text()


def test_token_check():
    assert token_matches("Bearer abc", "abc") and token_matches("bearer  abc ", "abc")
    for header in (None, "", "Bearer", "Bearer ab", "Bearer abcd", "Basic abc", "abc", "Bearer äbc"):
        assert not token_matches(header, "abc"), header


def test_multipart_and_raw_bodies():
    image = encoded(photo(8, 8))
    boundary = "XyZ"
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + image + f"\r\n--{boundary}--\r\n".encode()
    assert image_bytes(form, f"multipart/form-data; boundary={boundary}") == image
    assert image_bytes(image, "image/png") == image and image_bytes(image, None) == image
    with pytest.raises(RequestError) as error:
        image_bytes(form, "multipart/form-data")
    assert error.value.status == 422 and "boundary" in error.value.message
    with pytest.raises(RequestError) as error:
        image_bytes(b"{}", "application/json")
    assert error.value.status == 415
    assert decode_upload(image, 64).shape == (8, 8, 3)
    with pytest.raises(RequestError) as error:
        decode_upload(image, 63)
    assert error.value.status == 413 and error.value.kind == "too_many_pixels"


def test_settings_travel_to_workers_and_are_checked():
    config = ServeConfig(models=(ModelChoice("default", "default"), ModelChoice("random-weights:vits",
                                                                              random_encoder="vits")),
                         token="t", max_batch=16, port=0)
    assert ServeConfig.from_env(config.to_env()) == config
    assert config.default_model == "default"
    with pytest.raises(ConfigError, match="max_queue"):
        ServeConfig(max_queue=0)
    with pytest.raises(ConfigError, match="twice"):
        ServeConfig(models=(ModelChoice("a"), ModelChoice("a")))
    with pytest.raises(ConfigError, match="unknown keys"):
        ServeConfig.from_env('{"models": [], "colour": 1}')


def test_answer_headers_give_the_range_of_the_finite_values():
    """X-Depth-Min/Max: the extremes of the finite values, whether the map has none, some or only bad pixels."""
    import numpy as np

    from depth_anything.serve.encoding import encode_answer

    depth = np.linspace(0.5, 4.0, 12, dtype=np.float32).reshape(3, 4)
    headers = encode_answer(depth, "npy", True, "Spectral_r").headers
    assert (float(headers["X-Depth-Min"]), float(headers["X-Depth-Max"])) == (0.5, 4.0)
    for bad in (np.nan, np.inf, -np.inf):
        spoiled = depth.copy()
        spoiled[0, 0], spoiled[2, 3] = bad, bad
        headers = encode_answer(spoiled, "npy", True, "Spectral_r").headers
        assert (float(headers["X-Depth-Min"]), float(headers["X-Depth-Max"])) == (float(depth[0, 1]), float(depth[2, 2]))
    headers = encode_answer(np.full((2, 2), np.nan, np.float32), "npy", True, "Spectral_r").headers
    assert (float(headers["X-Depth-Min"]), float(headers["X-Depth-Max"])) == (0.0, 0.0)
