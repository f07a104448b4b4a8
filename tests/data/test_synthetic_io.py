"""Synthetic dataset files: format, reader, determinism, resuming after interruptions, bad input,
the `synth` and `contact-sheet` commands, and the trainer's dataset wrapper on top of the reader."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from depth_anything.cli import synth as synth_cli
from depth_anything.data import preview
from depth_anything.data.datasets import DATASET_READERS, open_dataset
from depth_anything.data.synthetic import SynthConfig, SyntheticReader, generate_sample, write_dataset
from depth_anything.data.synthetic.dataset import MANIFEST
from depth_anything.errors import DatasetError, DepthAnythingError
from depth_anything.io import load_image, save_image

CONFIG = SynthConfig(width=32, height=24)


def folder_bytes(root: Path) -> dict[str, bytes]:
    """Every file of a dataset folder (lock file aside), by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted, single-process run of 6 samples."""
    root = tmp_path_factory.mktemp("reference")
    report = write_dataset(root, 6, seed=11, config=CONFIG)
    assert (report.written, report.skipped) == (6, 0)
    return root


def test_layout_and_header_are_as_documented(reference):
    header = json.loads((reference / "dataset.json").read_text())
    assert header["seed"] == 11 and (header["width"], header["height"]) == (32, 24)
    assert header["depth"]["dtype"] == "float16" and header["depth"]["unit"] == "metre"
    lines = (reference / MANIFEST).read_text().splitlines()
    assert [json.loads(line)["index"] for line in lines] == list(range(6))
    entry = json.loads(lines[2])
    assert entry["image"] == "image/000002.png" and entry["depth"] == "depth/000002.npy"
    depth = np.load(reference / entry["depth"])
    assert depth.dtype == np.float16 and depth.shape == (24, 32)
    assert load_image(reference / entry["mask"]).shape == (24, 32, 3)


def test_reader_returns_the_rendered_sample(reference):
    reader = open_dataset("synthetic", reference)
    assert isinstance(reader, SyntheticReader) and "synthetic" in DATASET_READERS
    assert len(reader) == 6
    sample = reader[4]
    truth = generate_sample(11, 4, CONFIG)
    assert sample.name == "000004"
    np.testing.assert_array_equal(sample.image, truth.image)
    np.testing.assert_array_equal(sample.valid, truth.valid)
    assert sample.depth.dtype == np.float32
    # float16 storage: relative error below 2^-11
    np.testing.assert_allclose(sample.depth[truth.valid], truth.depth[truth.valid], rtol=5e-4)
    assert (sample.depth[~sample.valid] == 0).all()
    np.testing.assert_allclose(sample.intrinsics, truth.intrinsics, atol=1e-6)
    assert sample.meta["kind"] == truth.kind


def test_splits(reference):
    assert [s.name for s in (open_dataset("synthetic", reference, split="val")[i] for i in range(1))] == ["000000"]
    assert len(open_dataset("synthetic", reference, split="train")) == 5
    with pytest.raises(DatasetError, match="split"):
        open_dataset("synthetic", reference, split="test")


def test_same_seed_same_bytes_with_any_number_of_workers(reference, tmp_path):
    write_dataset(tmp_path, 6, seed=11, config=CONFIG, workers=2)
    assert folder_bytes(tmp_path) == folder_bytes(reference)


def test_resuming_after_a_partial_run_gives_identical_bytes(reference, tmp_path):
    write_dataset(tmp_path, 3, seed=11, config=CONFIG)
    report = write_dataset(tmp_path, 6, seed=11, config=CONFIG)
    assert (report.written, report.skipped) == (3, 3)
    assert folder_bytes(tmp_path) == folder_bytes(reference)


def test_interrupted_run_keeps_finished_samples_and_rerun_repairs_the_rest(reference, tmp_path):
    class Stop(KeyboardInterrupt):
        pass

    def stop_after_two(done: int, total: int) -> None:
        if done == 2:
            raise Stop

    with pytest.raises(Stop):
        write_dataset(tmp_path, 6, seed=11, config=CONFIG, progress=stop_after_two)
    assert len(SyntheticReader(tmp_path)) == 2  # nothing finished is lost
    finished = folder_bytes(tmp_path)
    # what a kill can leave: a torn manifest line, a half-written sample whose files exist but were
    # never listed, and a temporary file of an atomic write
    with open(tmp_path / MANIFEST, "a") as manifest:
        manifest.write('{"index": 2, "name": "0000')
    (tmp_path / "image" / "000002.png").write_bytes(b"\x89PNG truncated")
    (tmp_path / "depth" / ".000003.abc.tmp.npy").write_bytes(b"partial")
    assert len(SyntheticReader(tmp_path)) == 2  # the reader ignores the torn line
    report = write_dataset(tmp_path, 6, seed=11, config=CONFIG)
    assert report.written == 4
    after = folder_bytes(tmp_path)
    assert after == folder_bytes(reference)
    assert all(after[name] == data for name, data in finished.items() if name != MANIFEST)


def test_continuing_with_other_settings_is_refused(reference, tmp_path):
    write_dataset(tmp_path, 1, seed=11, config=CONFIG)
    with pytest.raises(DatasetError, match="seed=11"):
        write_dataset(tmp_path, 2, seed=12, config=CONFIG)
    with pytest.raises(DatasetError, match="width"):
        write_dataset(tmp_path, 2, seed=11, config=SynthConfig(width=40, height=24))


def test_unwritable_output_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(DatasetError, match="a-file"):
        write_dataset(blocker / "data", 2, config=CONFIG)


@pytest.mark.parametrize(("count", "workers", "message"), [(0, 1, "count"), (-3, 1, "count"), (2, 0, "workers")])
def test_bad_counts_are_refused(tmp_path, count, workers, message):
    with pytest.raises(DatasetError, match=message):
        write_dataset(tmp_path, count, config=CONFIG, workers=workers)


def test_reader_on_a_folder_that_is_not_a_dataset(tmp_path):
    with pytest.raises(DatasetError, match="dataset.json"):
        SyntheticReader(tmp_path)


def parse(module, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize("argv", [["--count", "0"], ["--count", "x"], ["--count", "2", "--size", "4"],
                                  ["--count", "2", "--size", "64x"], ["--count", "2", "--workers", "0"]])
def test_synth_command_rejects_bad_values(tmp_path, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(synth_cli, ["--out", str(tmp_path), *argv])
    assert exit_info.value.code == 2
    assert "must" in capsys.readouterr().err


def test_synth_and_contact_sheet_commands(tmp_path, capsys):
    from depth_anything.cli.__main__ import main

    data = tmp_path / "data"
    assert main(["synth", "--out", str(data), "--count", "3", "--size", "40x30", "--seed", "2", "--quiet"]) == 0
    assert "3 samples written" in capsys.readouterr().out
    reader = SyntheticReader(data)
    assert len(reader) == 3 and reader[0].image.shape == (30, 40, 3)
    np.testing.assert_array_equal(reader[1].image, generate_sample(2, 1, SynthConfig(width=40, height=30)).image)
    out = tmp_path / "sheet.png"
    assert main(["contact-sheet", "--data", str(data), "--count", "3", "--columns", "2", "--tile", "30",
                 "--out", str(out)]) == 0
    picture = load_image(out)
    # 2 columns × (image + depth, 40 px each) and 2 rows of 30 px, with 4 px gaps
    assert picture.shape == (2 * 34 + 4, 2 * 84 + 4, 3)
    np.testing.assert_array_equal(picture[4 + 18 : 34, 4:44], reader[0].image[18:])  # below the name label
    # the command reports bad folders as errors, not tracebacks
    assert main(["synth", "--out", str(out / "x"), "--count", "1", "--quiet"]) == 2
    assert "sheet.png" in capsys.readouterr().err


def test_unreadable_depth_or_mask_names_the_file(reference, tmp_path):
    import shutil

    data = tmp_path / "copy"
    shutil.copytree(reference, data)
    (data / "depth" / "000001.npy").write_bytes(b"not numpy")
    (data / "mask" / "000002.png").write_bytes(b"\x89PNG\r\n\x1a\n torn")
    reader = SyntheticReader(data)
    with pytest.raises(DatasetError, match="000001.npy"):
        reader[1]
    with pytest.raises(DepthAnythingError, match="000002.png"):
        reader[2]
    mask = load_image(data / "mask" / "000003.png")[:, :, 0]
    save_image(data / "mask" / "000003.png", (mask.astype(np.uint16) * 257))  # a 16-bit mask reads the same
    np.testing.assert_array_equal(reader[3].valid, SyntheticReader(reference)[3].valid)


def test_contact_sheet_of_an_empty_split_is_an_error(tmp_path, capsys):
    from depth_anything.cli.__main__ import main

    write_dataset(tmp_path / "data", 1, seed=3, config=CONFIG)  # sample 0 is in "val": "train" is empty
    assert main(["contact-sheet", "--data", str(tmp_path / "data"), "--split", "train",
                 "--out", str(tmp_path / "sheet.png")]) == 2
    assert "no samples to show" in capsys.readouterr().err
    with pytest.raises(DatasetError, match="no samples"):
        preview.contact_sheet(SyntheticReader(tmp_path / "data", split="train"))


def test_contact_sheet_shows_16bit_images_like_8bit(reference):
    sample = SyntheticReader(reference)[0]
    wide = dataclasses.replace(sample, image=sample.image.astype(np.uint16) * 257)
    np.testing.assert_array_equal(preview.sample_cell(wide, 24), preview.sample_cell(sample, 24))


def test_contact_sheet_colours_near_warm(reference):
    sample = SyntheticReader(reference)[0]
    picture = preview.sample_depth_picture(sample)
    assert picture.shape == sample.image.shape
    assert (picture[~sample.valid] == 0).all()
    near = np.unravel_index(np.argmin(np.where(sample.valid, sample.depth, np.inf)), sample.depth.shape)
    far = np.unravel_index(np.argmax(sample.depth), sample.depth.shape)
    assert picture[near][0] > picture[far][0]  # red channel: warm near, cool far


def test_trainer_dataset_wraps_the_reader(reference):
    augment = pytest.importorskip("depth_anything.data.augment")
    reader = SyntheticReader(reference)
    source = augment.SourceInfo(reader, name="synthetic")
    exact = augment.DepthTrainDataset([source], augment.TrainTransform(size=24, train=False, target="depth"))
    item = exact[3]
    sample = reader[3]
    left = (32 - 24) // 2
    crop = (slice(None), slice(left, left + 24))
    np.testing.assert_array_equal(item["valid"].numpy(), sample.valid[crop])
    np.testing.assert_array_equal(item["target"].numpy(), np.where(sample.valid, sample.depth, 0)[crop])
    relative = augment.DepthTrainDataset([source], augment.TrainTransform(size=24, target="disparity"), seed=1)
    batch = augment.collate_samples([relative[i] for i in range(len(relative))])
    assert batch["errors"] == [] and batch["image"].shape == (6, 3, 24, 24)
    assert (batch["target"][batch["valid"]] > 0).all()


def test_killed_process_loses_nothing_and_a_rerun_finishes_identically(tmp_path):
    """SIGKILL a real `synth` run part-way (no clean-up code runs), then finish it with a second run."""
    import signal
    import subprocess
    import sys
    import time

    count = 120
    data = tmp_path / "killed"
    command = [sys.executable, "-m", "depth_anything.cli", "synth", "--out", str(data), "--count", str(count),
               "--size", "32x24", "--seed", "5", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = data / MANIFEST
    deadline = time.monotonic() + 120  # a guard against hanging, not a timing assertion
    while process.poll() is None and time.monotonic() < deadline:
        if manifest.exists() and manifest.read_text().count("\n") >= 3:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    survivors = SyntheticReader(data)
    assert 3 <= len(survivors) < count  # killed part-way
    config = SynthConfig(width=32, height=24)
    for sample in (survivors[0], survivors[len(survivors) - 1]):  # finished samples are intact
        np.testing.assert_array_equal(sample.image, generate_sample(5, sample.meta["index"], config).image)
    assert subprocess.run(command, check=False).returncode == 0
    reference = tmp_path / "reference"
    write_dataset(reference, count, seed=5, config=config)
    assert folder_bytes(data) == folder_bytes(reference)
