"""The streaming evaluation loop: perfect predictors, bad inputs, prediction cache, flat memory."""

from __future__ import annotations

import json
import weakref
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_anything.data.datasets import DepthSample, SampleReader
from depth_anything.errors import ConfigError
from depth_anything.eval.benchmarks import (
    PredictionStore,
    evaluate,
    evaluate_benchmark,
    get_benchmark,
    make_protocol,
)

H, W = 10, 14


def depth_of(image: np.ndarray) -> np.ndarray:
    """The fixture's depth is written into the image's red channel: depth = 1 + red / 50 metres."""
    return 1.0 + image[:, :, 0].astype(np.float64) / 50.0


def perfect_disparity(images: list[np.ndarray]) -> list[np.ndarray]:
    """A predictor that knows the fixture's encoding: relative disparity, up to scale and shift."""
    return [(2.0 / depth_of(im) + 0.3).astype(np.float32) for im in images]


def write_sample(root: Path, name: str, seed: int, depth: np.ndarray | None = None) -> None:
    rgb = np.random.default_rng(seed).integers(0, 255, (H, W, 3), dtype=np.uint8)
    (root / "images" / name).parent.mkdir(parents=True, exist_ok=True)
    (root / "depth" / name).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / "images" / f"{name}.png"), rgb[:, :, ::-1])
    np.save(root / "depth" / f"{name}.npy", depth_of(rgb).astype(np.float32) if depth is None else depth)


def test_perfect_predictor_scores_perfectly_and_writes_table(tmp_path: Path) -> None:
    for i in range(5):
        write_sample(tmp_path, f"s{i}", i)
    report = evaluate_benchmark("folder", tmp_path, perfect_disparity, batch_size=2)
    assert (report.num_samples, report.num_evaluated, report.num_excluded) == (5, 5, 0)
    assert report.metrics["abs_rel"] == pytest.approx(0.0, abs=1e-5)
    assert report.metrics["d1"] == 1.0
    table = report.markdown().splitlines()
    assert table[0] == "| Model | Benchmark | Protocol | Images | Excluded | AbsRel ↓ | δ1 ↑ |"
    assert table[2] == "| model | folder | relative (affine) | 5 | 0 | 0.000 | 1.000 |"
    data = report.to_dict()
    assert json.loads(json.dumps(data))["per_sample"][0]["name"] == "s0"


def test_bad_inputs_are_reported_and_excluded(tmp_path: Path) -> None:
    write_sample(tmp_path, "good", 0)
    write_sample(tmp_path, "wrong_size", 1, depth=np.ones((H + 1, W), np.float32))
    write_sample(tmp_path, "no_valid", 2, depth=np.zeros((H, W), np.float32))
    write_sample(tmp_path, "nan_gt", 3, depth=np.full((H, W), np.nan, np.float32))
    write_sample(tmp_path, "nan_pred", 4)
    write_sample(tmp_path, "unreadable", 5)
    (tmp_path / "images" / "unreadable.png").write_bytes(b"not a png")
    nan_image = cv2.imread(str(tmp_path / "images" / "nan_pred.png"))[:, :, ::-1]

    def predict(images: list[np.ndarray]) -> list[np.ndarray]:
        out = perfect_disparity(images)
        return [np.full_like(o, np.nan) if np.array_equal(im, nan_image) else o for im, o in zip(images, out, strict=True)]

    report = evaluate_benchmark("folder", tmp_path, predict, batch_size=3)
    reasons = {e["name"]: e["reason"] for e in report.excluded}
    assert report.num_evaluated == 1 and report.num_excluded == 5
    assert "differs from image size" in reasons["wrong_size"]
    assert "empty valid mask" in reasons["no_valid"] and "empty valid mask" in reasons["nan_gt"]
    assert "prediction has" in reasons["nan_pred"]
    assert "cannot read sample" in reasons["unreadable"]
    assert report.metrics["abs_rel"] == pytest.approx(0.0, abs=1e-5)  # only the good one averaged in
    assert "| 1 | 5 |" in report.markdown()


class CountingReader(SampleReader):
    """A real reader of generated samples that tracks how many samples are alive at once."""

    def __init__(self, root: Path, count: int) -> None:
        super().__init__(root)
        self.items = list(range(count))
        self.alive = 0
        self.peak = 0

    def load(self, item: int) -> DepthSample:
        rgb = np.random.default_rng(item).integers(0, 255, (H, W, 3), dtype=np.uint8)
        depth = depth_of(rgb).astype(np.float32)
        sample = DepthSample(f"n{item}", rgb, depth, np.ones((H, W), bool))
        self.alive += 1
        self.peak = max(self.peak, self.alive)
        weakref.finalize(sample, self._release)
        return sample

    def _release(self) -> None:
        self.alive -= 1


def test_loop_streams_samples(tmp_path: Path) -> None:
    reader = CountingReader(tmp_path, 200)
    report = evaluate(reader, perfect_disparity, make_protocol("folder"), batch_size=4)
    assert report.num_evaluated == 200
    assert reader.peak <= 8  # at most the current batch (and the previous one, until collected)


def test_saved_predictions_are_reused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for i in range(3):
        write_sample(data, f"sub/s{i}", i)
    store = PredictionStore(tmp_path / "preds", "model-a", "disparity")
    first = evaluate_benchmark("folder", data, perfect_disparity, predictions=store)
    assert sorted(p.relative_to(tmp_path / "preds").as_posix() for p in (tmp_path / "preds").rglob("*.npy")) == [
        "sub/s0.npy", "sub/s1.npy", "sub/s2.npy",
    ]

    def must_not_run(images: list[np.ndarray]) -> list[np.ndarray]:
        raise AssertionError("inference ran although predictions were saved")

    again = evaluate_benchmark("folder", data, must_not_run, predictions=store, max_depth=500.0)
    assert again.num_evaluated == 3 and again.protocol["max_depth"] == 500.0
    assert again.metrics["abs_rel"] == pytest.approx(first.metrics["abs_rel"], abs=1e-6)
    with pytest.raises(ConfigError, match="model-a"):
        PredictionStore(tmp_path / "preds", "model-b", "disparity")


def test_metric_protocol_refuses_relative_predictions(tmp_path: Path) -> None:
    write_sample(tmp_path, "a", 0)
    with pytest.raises(ConfigError, match="metric model"):
        evaluate_benchmark("folder", tmp_path, perfect_disparity, kind="metric")
    report = evaluate_benchmark(
        "folder", tmp_path, lambda ims: [depth_of(im).astype(np.float32) * 1.1 for im in ims], pred_kind="depth"
    )
    assert report.protocol["kind"] == "metric" and report.metrics["abs_rel"] == pytest.approx(0.1, rel=1e-4)
    assert report.markdown().splitlines()[0].count("|") == 15  # 5 identity columns + all 9 metrics + 1


def test_benchmark_registry() -> None:
    assert get_benchmark("kitti").columns("metric") == ("d1", "d2", "d3", "abs_rel", "rmse", "rmse_log")
    assert get_benchmark("nyu").expected_size == 654
    with pytest.raises(ConfigError, match="da2k"):
        get_benchmark("imagenet")


def test_progress_goes_to_the_callers_callback_and_nothing_is_drawn(tmp_path: Path, capsys) -> None:
    for i in range(5):
        write_sample(tmp_path, f"s{i}", i)
    write_sample(tmp_path, "wrong_size", 9, depth=np.ones((H + 1, W), np.float32))
    calls: list[tuple[int, int, dict[str, int]]] = []
    report = evaluate_benchmark("folder", tmp_path, perfect_disparity, batch_size=4,
                                progress=lambda done, total, **counts: calls.append((done, total, counts)))
    assert calls == [(0, 6, {"scored": 0, "excluded": 0}), (4, 6, {"scored": 4, "excluded": 0}),
                     (6, 6, {"scored": 5, "excluded": 1})]
    assert (report.num_evaluated, report.num_excluded) == (5, 1)
    assert capsys.readouterr().err == ""  # the library draws no bar; the command line does, from the calls
