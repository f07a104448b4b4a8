"""Training transforms keep depth registered to the image; the dataset wrapper skips bad samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depth_anything.data.augment import (
    DepthTrainDataset,
    SourceInfo,
    TrainTransform,
    collate_samples,
)
from depth_anything.data.datasets import DepthSample, item_name, open_dataset
from depth_anything.errors import DatasetError
from depth_anything.io import save_image, to_unit_float
from depth_anything.transforms import IMAGENET_MEAN, IMAGENET_STD


def _ramp_sample(height: int = 30, width: int = 45) -> DepthSample:
    """Depth 1..4 m rising left→right and top→bottom; the red channel encodes the same depth."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    depth = 1.0 + 2.0 * xx / (width - 1) + 1.0 * yy / (height - 1)
    red = (depth - 1.0) / 3.0
    image = np.stack([red, 0.5 * np.ones_like(red), 1.0 - red], axis=-1)
    valid = np.ones_like(depth, dtype=bool)
    valid[:2] = False  # a band of invalid pixels at the top
    return DepthSample("ramp", (image * 255).round().astype(np.uint8), depth, valid)


def _decode_red(network_image: np.ndarray) -> np.ndarray:
    red = network_image[0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]
    return 1.0 + 3.0 * red


@pytest.mark.parametrize("seed", range(6))
def test_depth_follows_resize_crop_and_flip(seed: int) -> None:
    sample = _ramp_sample()
    transform = TrainTransform(size=28, flip=True, color_jitter=0.0, hue_jitter=0.0)
    out = transform(sample, np.random.default_rng(seed))
    assert out["image"].shape == (3, 28, 28) and out["target"].shape == (28, 28) and out["valid"].shape == (28, 28)
    assert out["image"].dtype == np.float32 and out["target"].dtype == np.float32 and out["valid"].dtype == bool
    valid = out["valid"]
    depth_from_image = _decode_red(out["image"])
    depth_from_target = 1.0 / out["target"][valid]
    # registration: the label at each pixel is the depth the image shows there, up to nearest-neighbour
    # rounding (≤ half a source pixel ≈ 0.04 m here) and with no systematic shift (a half-pixel
    # misalignment between image and label resizing would bias this mean by ≈ 0.04 m)
    error = depth_from_image[valid] - depth_from_target
    assert np.abs(error).max() < 0.05 and abs(error.mean()) < 0.005
    assert np.all(out["target"][~valid] == 0)


def test_shorter_side_becomes_the_training_size_and_flips_happen() -> None:
    sample = _ramp_sample(height=30, width=60)
    transform = TrainTransform(size=28, color_jitter=0.0, hue_jitter=0.0)
    flipped = 0
    for seed in range(12):
        target = transform(sample, np.random.default_rng(seed))["target"]
        flipped += int(target[-1, 0] < target[-1, -1])  # disparity larger on the left = nearer = flipped
    assert 0 < flipped < 12
    center = TrainTransform(size=28, train=False)(sample, np.random.default_rng(0))
    again = TrainTransform(size=28, train=False)(sample, np.random.default_rng(99))
    assert all(np.array_equal(center[k], again[k]) for k in center)  # validation view is deterministic


def test_color_jitter_changes_colours_not_depth() -> None:
    sample = _ramp_sample()
    plain = TrainTransform(size=28, flip=False, color_jitter=0.0, hue_jitter=0.0)
    jittered = TrainTransform(size=28, flip=False, color_jitter=0.4, hue_jitter=0.05)
    a, b = plain(sample, np.random.default_rng(1)), jittered(sample, np.random.default_rng(1))
    assert np.array_equal(a["target"], b["target"]) and np.array_equal(a["valid"], b["valid"])
    assert np.abs(a["image"] - b["image"]).mean() > 0.01


def test_targets_per_stage() -> None:
    sample = _ramp_sample()
    metric = TrainTransform(size=28, flip=False, color_jitter=0.0, hue_jitter=0.0, target="depth", max_depth=3.0)
    out = metric(sample, np.random.default_rng(0))
    assert out["target"][out["valid"]].max() <= 3.0 and out["target"][out["valid"]].min() >= 1.0
    assert (~out["valid"]).sum() > 28 * 2  # rows beyond max_depth are invalid, besides the top band
    disparity = DepthSample("d", sample.image, 1.0 / sample.depth, None, depth_kind="disparity")
    relative = TrainTransform(size=28, flip=False, color_jitter=0.0, hue_jitter=0.0)
    from_depth, from_disp = relative(sample, np.random.default_rng(0)), relative(disparity, np.random.default_rng(0))
    assert np.allclose(from_depth["target"][from_depth["valid"]], from_disp["target"][from_depth["valid"]], rtol=1e-6)
    with pytest.raises(DatasetError, match="metric depth"):
        metric(disparity, np.random.default_rng(0))
    with pytest.raises(DatasetError, match="needs a depth label"):
        relative(DepthSample("u", sample.image), np.random.default_rng(0))


def _folder_dataset(root: Path, count: int = 4) -> Path:
    """The generic "folder" layout: images/NN.png with depth/NN.npy in metres."""
    (root / "images").mkdir()
    (root / "depth").mkdir()
    for i in range(count):
        sample = _ramp_sample(30 + i, 40)
        save_image(root / "images" / f"{i:02d}.png", sample.image)
        np.save(root / "depth" / f"{i:02d}.npy", sample.depth)
    return root


def test_dataset_is_deterministic_and_skips_bad_samples(tmp_path: Path) -> None:
    reader = open_dataset("folder", _folder_dataset(tmp_path))
    dataset = DepthTrainDataset([SourceInfo(reader, pseudo=True, name="mine")], TrainTransform(size=28), seed=5)
    first, again, other_epoch = dataset[(0, 1)], dataset[(0, 1)], dataset[(1, 1)]
    assert np.array_equal(first["image"].numpy(), again["image"].numpy())
    assert not np.array_equal(first["image"].numpy(), other_epoch["image"].numpy())
    assert first["pseudo"] is True and first["name"] == "01"
    # break two samples after listing: a truncated image and a missing depth file
    (tmp_path / "images" / "02.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (tmp_path / "depth" / "03.npy").unlink()
    items = [dataset[i] for i in range(4)]
    assert "02.png" in items[2]["error"] and "03.npy" in items[3]["error"]
    batch = collate_samples(items)
    assert batch["size"] == 2 and batch["names"] == ["00", "01"] and len(batch["errors"]) == 2
    assert batch["image"].shape == (2, 3, 28, 28) and batch["pseudo"].tolist() == [True, True]
    assert collate_samples(items[2:])["size"] == 0


def test_unit_float32_matches_to_unit_float() -> None:
    rng = np.random.default_rng(0)
    for image in (rng.integers(0, 256, (5, 7, 3), dtype=np.uint8), rng.integers(0, 65536, (5, 7, 3), dtype=np.uint16),
                  rng.random((5, 7, 3))):
        converted = to_unit_float(image, np.float32)
        assert converted.dtype == np.float32
        np.testing.assert_allclose(converted, to_unit_float(image), rtol=1e-7, atol=0)


def test_failed_samples_are_named_by_their_item(tmp_path: Path) -> None:
    class Pairs:
        """A reader listing (image, label) tuples, like the pseudo-label reader."""

        items = [(Path("imgs/a.png"), Path("labels/a.npy"))]

        def __len__(self) -> int:
            return 1

        def __getitem__(self, index: int) -> DepthSample:
            raise DatasetError("label has the wrong size")

    dataset = DepthTrainDataset([SourceInfo(Pairs(), name="pseudo")], TrainTransform(size=28))
    assert dataset[0]["error"] == "pseudo: imgs/a.png / labels/a.npy: label has the wrong size"
    reader = open_dataset("folder", _folder_dataset(tmp_path, count=1))
    assert item_name(reader.items[0]) == "00" == reader[0].name
    assert item_name("plain") == "plain"
    unlisted = DepthTrainDataset([SourceInfo([DepthSample("x", np.zeros((2, 2, 3), np.uint8))])], TrainTransform(size=28))
    assert unlisted[0]["error"].startswith("sample 0: ")
