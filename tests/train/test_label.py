"""Pseudo-labeling: one label per image via the shared Predictor, atomic, resumable, read back as "pseudo"."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import TINY_MODEL

import depth_anything
from depth_anything.data.datasets import open_dataset
from depth_anything.data.pseudo import read_label, write_label
from depth_anything.errors import ConfigError, ImageReadError
from depth_anything.io import list_images, load_image, save_image
from depth_anything.train.config import ModelSection, model_config_from
from depth_anything.train.label import label_images
from depth_anything.weights import save_checkpoint


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = depth_anything.build_model(model_config_from(ModelSection(config=TINY_MODEL)))
    with torch.no_grad():
        [m for m in model.depth_head.modules() if isinstance(m, torch.nn.Conv2d)][-1].bias.fill_(1.0)
    return save_checkpoint(model, tmp_path_factory.mktemp("teacher") / "teacher.pt")


def _images_with_a_broken_one(photos: Path, tmp_path: Path) -> Path:
    images = tmp_path / "images"
    shutil.copytree(photos, images)
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return images


@pytest.mark.parametrize("encoding", ["npy16", "png16"])
def test_labels_match_the_predictor_and_read_back(
    tmp_path: Path, photos: Path, teacher: Path, encoding: str
) -> None:
    images = _images_with_a_broken_one(photos, tmp_path)
    out = tmp_path / "pseudo"
    result = label_images(teacher, images, out, encoding, input_size=28, batch_size=2, device="cpu")
    good = [p for p in list_images(images) if p.name != "broken.jpg"]
    assert (result.labeled, result.skipped_existing, result.failed) == (len(good), 0, 1)
    assert result.images_per_second > 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["encoding"] == encoding and manifest["count"] == len(good)
    assert {s["image"] for s in manifest["samples"]} == {p.relative_to(images).as_posix() for p in good}
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]  # no half-written files

    # the label is the shared Predictor's output (one inference path), scaled so its maximum is 1
    predictor = depth_anything.Predictor(depth_anything.load_model(teacher, device="cpu"), "cpu", input_size=28)
    reader = open_dataset("pseudo", out)
    assert len(reader) == len(good)
    for sample, path in zip(reader, good, strict=True):
        expected = predictor.predict_one(path)
        expected = expected / expected.max()
        tolerance = 1e-3 if encoding == "npy16" else 2e-5
        assert sample.depth_kind == "disparity" and sample.depth.dtype == np.float32
        assert sample.depth.shape == load_image(path).shape[:2] and sample.image.shape[:2] == sample.depth.shape
        assert np.abs(sample.depth - expected).max() < tolerance
        assert sample.valid.all()


def test_rerun_skips_finished_labels_and_redoes_missing_ones(tmp_path: Path, photos: Path, teacher: Path) -> None:
    out = tmp_path / "pseudo"
    first = label_images(teacher, photos, out, input_size=28, device="cpu")
    labels = sorted((out / "labels").rglob("*.npy"))
    stamps = {p: p.stat().st_mtime_ns for p in labels}
    labels[0].unlink()  # as if the run had died before this file was (atomically) written
    second = label_images(teacher, photos, out, input_size=28, device="cpu")
    assert (second.labeled, second.skipped_existing) == (1, first.labeled - 1)
    assert all(p.stat().st_mtime_ns == stamps[p] for p in labels[1:])  # untouched
    redone = read_label(labels[0])
    assert redone.ndim == 2 and float(redone.max()) == 1.0
    assert json.loads((out / "manifest.json").read_text())["count"] == first.labeled


def test_label_command_prints_throughput(tmp_path: Path, photos: Path, teacher: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    from depth_anything.cli.__main__ import main

    code = main(["label", "--model", str(teacher), "--images", str(photos), "--out", str(tmp_path / "p"),
                 "--input-size", "28", "--format", "png16", "--device", "cpu", "--no-progress"])
    assert code == 0
    assert "images/s" in capsys.readouterr().out
    assert len(list((tmp_path / "p" / "labels").rglob("*.png"))) == len(list_images(photos))


def test_shard_only_flags_on_a_folder_of_images_are_refused(tmp_path: Path, photos: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    from depth_anything.cli.__main__ import main

    base = ["label", "--images", str(photos), "--out", str(tmp_path / "p"), "--no-progress"]
    assert main([*base, "--engine", "ray", "--no-quality"]) != 0
    assert "--engine ray, --no-quality: for tar shards only" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
    with pytest.raises(SystemExit):
        main([*base, "--shards", "--ray-actors", "0"])
    assert "--ray-actors" in capsys.readouterr().err


def test_png_labels_read_back_through_the_shared_decoder(tmp_path: Path) -> None:
    disparity = np.linspace(0.0, 4.0, 12, dtype=np.float32).reshape(3, 4)
    back = read_label(write_label(tmp_path / "l.png", disparity, "png16"))
    assert back.dtype == np.float32 and back.shape == (3, 4)
    np.testing.assert_allclose(back, disparity / 4.0, atol=1 / 65535)
    save_image(tmp_path / "eight.png", np.zeros((3, 4), np.uint8))
    with pytest.raises(ImageReadError, match="eight.png"):
        read_label(tmp_path / "eight.png")


def test_images_differing_only_in_suffix_get_separate_labels(tmp_path: Path, photos: Path, teacher: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    rgb = load_image(next(p for p in list_images(photos) if p.suffix == ".png"))
    save_image(images / "a.png", rgb)
    save_image(images / "a.jpg", np.ascontiguousarray(rgb[::-1]))  # another picture, same stem
    out = tmp_path / "pseudo"
    result = label_images(teacher, images, out, input_size=28, device="cpu")
    assert result.labeled == 2
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["a.jpg.npy", "a.png.npy"]
    reader = open_dataset("pseudo", out)
    samples = {sample.name: sample for sample in reader}
    assert set(samples) == {"a.jpg", "a.png"}
    assert not np.array_equal(samples["a.jpg"].depth, samples["a.png"].depth)


def test_out_inside_images_is_refused(tmp_path: Path, photos: Path, teacher: Path) -> None:
    images = tmp_path / "images"
    shutil.copytree(photos, images)
    with pytest.raises(ConfigError, match="inside images="):
        label_images(teacher, images, images / "pseudo", input_size=28, device="cpu")
    assert not (images / "pseudo").exists()


def test_rerun_with_another_teacher_setting_is_refused_naming_both(
    tmp_path: Path, photos: Path, teacher: Path
) -> None:
    out = tmp_path / "pseudo"
    label_images(teacher, photos, out, input_size=28, device="cpu")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["teacher"]["input_size"] == 28 and manifest["teacher"]["model_bytes"] == teacher.stat().st_size
    labels = {p: p.stat().st_mtime_ns for p in (out / "labels").rglob("*.npy")}
    with pytest.raises(ConfigError) as caught:
        label_images(teacher, photos, out, input_size=42, device="cpu")
    message = str(caught.value)
    assert "input_size" in message and '"input_size": 28' in message and '"input_size": 42' in message
    other = tmp_path / "other_teacher.pt"
    shutil.copyfile(teacher, other)
    with pytest.raises(ConfigError) as caught:
        label_images(other, photos, out, input_size=28, device="cpu")
    assert str(teacher) in str(caught.value) and str(other) in str(caught.value)
    assert {p: p.stat().st_mtime_ns for p in (out / "labels").rglob("*.npy")} == labels  # nothing rewritten
    assert json.loads((out / "manifest.json").read_text()) == manifest
