"""DA-2K: annotation parsing, pair judging, per-scene accuracy, bad pairs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_anything.errors import DatasetError
from depth_anything.eval.da2k import evaluate_da2k, load_annotations, scene_type_of

H, W = 8, 10


def row_disparity(images: list[np.ndarray]) -> list[np.ndarray]:
    """Disparity growing downwards: lower rows are nearer (as on a ground plane)."""
    return [np.repeat(np.arange(H, dtype=np.float32)[:, None], W, axis=1) for _ in images]


def make_da2k(root: Path) -> None:
    for folder in ("indoor", "outdoor", "underwater"):
        (root / "images" / folder).mkdir(parents=True)
        cv2.imwrite(str(root / "images" / folder / "a.png"), np.zeros((H, W, 3), np.uint8))
    annotations = {
        "images/indoor/a.png": [
            {"point1": [7, 2], "point2": [1, 2], "closer_point": "point1"},  # right: row 7 nearer
            {"point1": [6, 0], "point2": [2, 9], "closer_point": "point2"},  # wrong: row 2 is farther
        ],
        "images/outdoor/a.png": [
            {"point1": [5, 5], "point2": [0, 0], "closer_point": "point1"},  # right
            {"point1": [50, 5], "point2": [0, 0], "closer_point": "point1"},  # outside the image
        ],
        "images/underwater/a.png": [{"point1": [3, 3], "point2": [3, 4], "closer_point": "point1"}],  # tie: wrong
        "images/aerial/missing.png": [{"point1": [1, 1], "point2": [2, 2], "closer_point": "point1"}],
    }
    (root / "annotations.json").write_text(json.dumps(annotations))


def test_accuracy_overall_and_per_scene(tmp_path: Path) -> None:
    make_da2k(tmp_path)
    report = evaluate_da2k(tmp_path, row_disparity, batch_size=2)
    assert (report.overall.correct, report.overall.total) == (2, 4)
    assert report.overall.accuracy == 0.5
    assert report.per_scene["indoor"].accuracy == 0.5
    assert report.per_scene["outdoor"].accuracy == 1.0
    assert report.per_scene["underwater"].accuracy == 0.0
    reasons = " ".join(e["name"] + " " + e["reason"] for e in report.excluded)
    assert "outdoor/a.png pair 1" in reasons and "outside" in reasons
    assert "missing.png" in reasons and "cannot read image" in reasons
    data = report.to_dict()
    assert data["accuracy"] == 0.5 and data["num_excluded"] == 2 and data["per_scene"]["outdoor"]["total"] == 1
    lines = report.markdown().splitlines()
    assert lines[0] == "| Model | Pairs | Excluded | Overall | indoor | outdoor | underwater |"
    assert lines[2] == "| model | 4 | 2 | 50.0 | 50.0 | 100.0 | 0.0 |"


def test_metric_depth_prefers_smaller_values(tmp_path: Path) -> None:
    make_da2k(tmp_path)
    depth = lambda images: [H - d for d in row_disparity(images)]  # noqa: E731 - metres: smaller = nearer
    report = evaluate_da2k(tmp_path, depth, pred_kind="depth")
    assert (report.overall.correct, report.overall.total) == (2, 4)
    flipped = evaluate_da2k(tmp_path, depth, pred_kind="disparity")
    assert flipped.overall.correct == 1  # every ordered pair flips; the tie is wrong either way


def test_scene_type_from_path() -> None:
    assert scene_type_of("images/transparent_reflective/x.jpg") == "transparent_reflective"
    assert scene_type_of("non_real/x.jpg") == "non_real"
    assert scene_type_of("images/x.jpg") == "other"


def test_malformed_annotations_name_the_image(tmp_path: Path) -> None:
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps({"images/indoor/a.png": [{"point1": [1, 2], "point2": [3], "closer_point": "point1"}]}))
    with pytest.raises(DatasetError, match="indoor/a.png pair 0 point2"):
        load_annotations(path)
    path.write_text(json.dumps({"x.png": [{"point1": [1, 2], "point2": [3, 4], "closer_point": "left"}]}))
    with pytest.raises(DatasetError, match="closer_point"):
        load_annotations(path)
    with pytest.raises(DatasetError, match="not found"):
        load_annotations(tmp_path / "nope.json")


def test_progress_counts_images_for_the_callers_callback(tmp_path: Path, capsys) -> None:
    make_da2k(tmp_path)
    calls: list[tuple[int, int]] = []
    evaluate_da2k(tmp_path, row_disparity, batch_size=3, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 4), (3, 4), (4, 4)]
    assert capsys.readouterr().err == ""
