"""Evaluation regressions: every bound of the standard crops, and `eval --benchmark da2k` reading a
metric model's output as depth (smaller = closer) and a relative model's as disparity."""

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
from depth_anything.eval.benchmarks import get_benchmark, make_protocol
from depth_anything.eval.protocols import CROPS, crop_mask, evaluation_mask
from depth_anything.weights import save_checkpoint

# ------------------------------------------------------------------------------------------- crops
# (crop, height, width) → rows top:bottom, columns left:right, as the standard evaluation code
# computes them (np.int32 of the published fractions; NYU: the fixed 45:471, 41:601 of 480×640).
CROP_BOUNDS = {
    ("garg", 375, 1242): (153, 371, 44, 1197),
    ("garg", 352, 1216): (143, 349, 43, 1172),
    ("garg", 370, 1224): (151, 366, 43, 1180),
    ("eigen", 375, 1242): (124, 342, 44, 1197),
    ("eigen", 352, 1216): (117, 321, 43, 1172),
    ("eigen", 370, 1224): (122, 337, 43, 1180),
    ("nyu", 480, 640): (45, 471, 41, 601),
}


def _bounds(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


@pytest.mark.parametrize(("crop", "height", "width"), sorted(CROP_BOUNDS))
def test_crop_masks_have_the_standard_bounds(crop, height, width):
    top, bottom, left, right = CROP_BOUNDS[(crop, height, width)]
    mask = crop_mask((height, width), crop)
    assert mask.shape == (height, width) and mask.dtype == bool
    assert _bounds(mask) == (top, bottom, left, right)
    expected = np.zeros((height, width), bool)
    expected[top:bottom, left:right] = True
    np.testing.assert_array_equal(mask, expected)  # one solid rectangle, all four edges


def test_crop_fractions_are_the_published_ones():
    assert CROPS["garg"] == pytest.approx((0.40810811, 0.99189189, 0.03594771, 0.96405229), abs=1e-8)
    assert CROPS["eigen"] == pytest.approx((0.3324324, 0.91351351, 0.0359477, 0.96405229), abs=1e-6)
    assert CROPS["nyu"] == pytest.approx((45 / 480, 471 / 480, 41 / 640, 601 / 640), abs=1e-12)
    assert crop_mask((4, 5), None).all()


def test_datasets_use_their_standard_crop_and_range():
    assert get_benchmark("kitti").settings.crop == "garg" and get_benchmark("kitti").settings.max_depth == 80.0
    assert get_benchmark("nyu").settings.crop == "nyu" and get_benchmark("nyu").settings.max_depth == 10.0
    # the protocol's evaluated pixels are exactly the crop (inside the depth range)
    gt = np.full((480, 640), 5.0)
    mask = evaluation_mask(gt, None, make_protocol("nyu"))
    assert _bounds(mask) == (45, 471, 41, 601) and mask.sum() == (471 - 45) * (601 - 41)
    gt = np.full((375, 1242), 5.0)
    assert _bounds(evaluation_mask(gt, None, make_protocol("kitti"))) == (153, 371, 44, 1197)
    assert _bounds(evaluation_mask(gt, None, make_protocol("kitti", crop="eigen"))) == (124, 342, 44, 1197)


# -------------------------------------------------------------------------------------------- DA-2K
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
