"""Readers of the folders VDA's benchmark/dataset_extract scripts write, on small generated fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_anything.data.datasets import open_sequences
from depth_anything.errors import DatasetError

# dataset → (rgb folder, factor, ground-truth size, size of the frames the extraction script writes)
FIXTURES = {
    "sintel": ("clean", 65535 / 650, (12, 16), (12, 16)),
    "kitti": ("rgb", 256.0, (10, 14), (10, 14)),
    "bonn": ("rgb", 5000.0, (12, 16), (12, 16)),
    "scannet": ("color", 1000.0, (40, 50), (24, 28)),
    "nyuv2": ("rgb", 6000.0, (480, 640), (426, 560)),
}
CROPS = {"scannet": (slice(8, -8), slice(11, -11)), "nyuv2": (slice(45, 471), slice(41, 601))}


def _make(root: Path, dataset: str, frames: int = 3, posed: bool = False, split: str = "") -> dict[str, np.ndarray]:
    """Write a VDA-style folder with one sequence; returns the raw 16-bit depth per frame."""
    rgb, factor, gt_size, image_size = FIXTURES[dataset]
    rng = np.random.default_rng(0)
    entries, raws = [], {}
    for t in range(frames):
        image = f"scene_a/{rgb}/frame_{t:04d}.png"
        depth = f"scene_a/depth/frame_{t:04d}.png"
        (root / image).parent.mkdir(parents=True, exist_ok=True)
        (root / depth).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / image), rng.integers(0, 255, (*image_size, 3), dtype=np.uint8))
        raw = rng.integers(1, 60000, gt_size, dtype=np.uint16)
        raw[0, 0] = 0
        cv2.imwrite(str(root / depth), raw)
        raws[depth] = raw
        entry = {"image": image, "gt_depth": depth, "factor": factor}
        if posed:
            pose = np.eye(4)
            pose[0, 3] = 0.1 * t
            entry["K"] = [[50.0, 0, 13.5, 0], [0, 50.0, 11.5, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
            entry["pose"] = pose.tolist()
        entries.append(entry)
    name = f"{dataset}_video{('_' + split) if split else ''}.json"
    (root / name).write_text(json.dumps({dataset: [{"scene_a": entries}]}))
    return raws


@pytest.mark.parametrize("dataset", sorted(FIXTURES))
def test_each_vda_layout_reads_frames_and_cropped_metres(tmp_path: Path, dataset: str) -> None:
    raws = _make(tmp_path, dataset)
    reader = open_sequences(f"vda-{dataset}", tmp_path)
    assert len(reader) == 1
    sequence = reader[0]
    _, factor, _, image_size = FIXTURES[dataset]
    assert sequence.name == "scene_a" and sequence.images.shape == (3, *image_size, 3)
    rows, cols = CROPS.get(dataset, (slice(None), slice(None)))
    expected = np.stack([raw[rows, cols] for raw in raws.values()]).astype(np.float64) / factor
    np.testing.assert_allclose(sequence.depth, expected, rtol=1e-6)
    np.testing.assert_array_equal(sequence.valid, expected > 0)
    assert sequence.intrinsics is None and sequence.camera_to_world is None


def test_posed_split_gives_cameras(tmp_path: Path) -> None:
    _make(tmp_path, "scannet", posed=True, split="tae")
    sequence = open_sequences("vda-scannet", tmp_path, split="tae")[0]
    assert sequence.intrinsics.shape == (3, 3, 3) and sequence.intrinsics[0, 0, 0] == 50.0
    assert sequence.camera_to_world.shape == (3, 4, 4) and sequence.camera_to_world[2, 0, 3] == pytest.approx(0.2)


def test_missing_index_and_bad_frames_are_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="sintel_video.json"):
        open_sequences("vda-sintel", tmp_path)
    _make(tmp_path, "bonn")
    index = json.loads((tmp_path / "bonn_video.json").read_text())
    del index["bonn"][0]["scene_a"][1]["factor"]
    (tmp_path / "bonn_video.json").write_text(json.dumps(index))
    with pytest.raises(DatasetError, match="frame 1"):
        open_sequences("vda-bonn", tmp_path)[0]
