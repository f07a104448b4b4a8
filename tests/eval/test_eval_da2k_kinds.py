"""`eval --benchmark da2k` reads a metric model's output as depth (smaller = closer) and a relative
model's as disparity (larger = closer)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from model_helpers import randomize_, tiny_config
from PIL import Image

from depth_anything import build_model
from depth_anything.cli.__main__ import main
from depth_anything.weights import save_checkpoint

H, W = 28, 42
DARK, BRIGHT = 30, 220


def _scene(path: Path) -> None:
    """Left half dark, right half bright (the network below outputs the image brightness)."""
    image = np.full((H, W, 3), BRIGHT, np.uint8)
    image[:, : W // 2] = DARK
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def make_da2k(root: Path, closer: str) -> Path:
    """A DA-2K folder whose closer point is always on the `closer` ("dark"/"bright") side."""
    dark_points = ([14, 5], [4, 8], [22, 12])
    bright_points = ([14, 36], [24, 30], [3, 38])
    annotations = {}
    for scene in ("indoor", "outdoor", "aerial"):
        image = f"images/{scene}/a.png"
        _scene(root / image)
        pairs = []
        for i, (d, b) in enumerate(zip(dark_points, bright_points, strict=True)):
            near, far = (d, b) if closer == "dark" else (b, d)
            if i % 2:  # the closer point as point2 too
                pairs.append({"point1": far, "point2": near, "closer_point": "point2"})
            else:
                pairs.append({"point1": near, "point2": far, "closer_point": "point1"})
        annotations[image] = pairs
    (root / "annotations.json").write_text(json.dumps(annotations))
    return root


@pytest.fixture
def brightness_network(monkeypatch):
    """The network's output is the input's brightness (+5, so a metric output stays positive)."""
    from depth_anything.models import DepthAnything

    monkeypatch.setattr(DepthAnything, "forward", lambda self, x: x.mean(dim=1) + 5.0)


def _checkpoint(tmp_path: Path, max_depth: float | None) -> Path:
    model = randomize_(build_model(tiny_config(max_depth=max_depth)), seed=3)
    return save_checkpoint(model, tmp_path / ("metric.pt" if max_depth else "relative.pt"))


def _da2k_accuracy(root: Path, checkpoint: Path, out: Path) -> dict:
    code = main(["eval", "--benchmark", "da2k", "--data", str(root), "--model", str(checkpoint),
                 "--out", str(out), "--input-size", "28", "--device", "cpu", "--no-progress"])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["total"] == 9 and report["num_excluded"] == 0
    return report


def test_da2k_cli_scores_a_metric_model_as_depth(tmp_path, brightness_network):
    """Metric output (metres): the darker, smaller value is the closer point."""
    metric = _checkpoint(tmp_path, max_depth=20.0)
    right = _da2k_accuracy(make_da2k(tmp_path / "near_dark", "dark"), metric, tmp_path / "a.json")
    assert right["accuracy"] == 1.0, "a metric model was scored as disparity (larger = closer)"
    assert all(scene["accuracy"] == 1.0 for scene in right["per_scene"].values())
    wrong = _da2k_accuracy(make_da2k(tmp_path / "near_bright", "bright"), metric, tmp_path / "b.json")
    assert wrong["accuracy"] == 0.0


def test_da2k_cli_scores_a_relative_model_as_disparity(tmp_path, brightness_network):
    """Relative output (disparity): the brighter, larger value is the closer point."""
    relative = _checkpoint(tmp_path, max_depth=None)
    right = _da2k_accuracy(make_da2k(tmp_path / "near_bright", "bright"), relative, tmp_path / "a.json")
    assert right["accuracy"] == 1.0, "a relative model was scored as depth (smaller = closer)"
    wrong = _da2k_accuracy(make_da2k(tmp_path / "near_dark", "dark"), relative, tmp_path / "b.json")
    assert wrong["accuracy"] == 0.0


def test_brightness_network_is_what_the_cli_runs(tmp_path, brightness_network):
    """The fixture's premise: predictions follow the image brightness at the annotated points."""
    from depth_anything.inference import Predictor
    from depth_anything.weights import load_model

    _scene(tmp_path / "x.png")
    model = load_model(_checkpoint(tmp_path, max_depth=20.0), device="cpu")
    assert model.config.max_depth == 20.0
    depth = Predictor(model, input_size=28).predict([tmp_path / "x.png"])[0]
    assert depth.shape == (H, W)
    assert float(depth[14, 5]) < float(depth[14, 36])
    assert torch.isfinite(torch.from_numpy(depth)).all()
