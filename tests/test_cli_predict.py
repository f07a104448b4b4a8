"""`depth-anything predict`: files and folders in, pictures / 16-bit PNGs / npy out, bad files skipped."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from model_helpers import randomize_, tiny_config
from PIL import Image

from depth_anything import build_model
from depth_anything.cli.__main__ import main
from depth_anything.io import load_depth_png16, load_image
from depth_anything.weights import save_checkpoint


@pytest.fixture
def checkpoint(tmp_path):
    return save_checkpoint(randomize_(build_model(tiny_config()), seed=31), tmp_path / "tiny.pt")


def test_predict_writes_every_format_and_skips_bad_files(tmp_path, checkpoint, capsys):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(photos / "a.png")
    Image.fromarray(rng.integers(0, 255, (50, 30, 3), dtype=np.uint8)).save(photos / "sub" / "b.jpg")
    (photos / "broken.png").write_bytes(b"\x89PNG not really")
    out = tmp_path / "out"
    code = main(["predict", str(photos), "--model", str(checkpoint), "--out", str(out),
                 "--formats", "color,side,png16,npy", "--input-size", "28", "--device", "cpu"])
    assert code == 1  # one input failed, the others were written
    captured = capsys.readouterr()
    assert "broken.png" in captured.err and "2 image(s) written" in captured.out
    depth = np.load(out / "a.npy")
    assert depth.shape == (40, 60) and depth.dtype == np.float32
    assert load_image(out / "a_depth.png").shape == (40, 60, 3)
    side = load_image(out / "a_side.png")
    assert side.shape == (40, 60 + 8 + 60, 3)
    np.testing.assert_array_equal(side[:, :60], load_image(photos / "a.png"))
    np.testing.assert_array_equal(side[:, 68:], load_image(out / "a_depth.png"))
    sixteen = load_depth_png16(out / "a_depth16.png", scale=1.0)
    assert sixteen.max() == 65535 and sixteen.min() == 0  # relative maps use the full 16-bit range
    order = np.argsort(depth, axis=None)
    assert np.all(np.diff(sixteen.ravel()[order]) >= 0)  # monotonic in the prediction
    assert np.load(out / "b.npy").shape == (50, 30)
    assert not list(out.glob(".*tmp*"))  # atomic writes leave no temporaries


def test_outputs_inside_the_input_folder_are_not_read_back(tmp_path, checkpoint, capsys):
    Image.fromarray(np.full((28, 28, 3), 90, np.uint8)).save(tmp_path / "a.png")
    args = ["predict", str(tmp_path), "--model", str(checkpoint), "--out", str(tmp_path / "depth"), "--input-size", "28"]
    assert main(args) == 0 and main(args) == 0
    assert "1 image(s) written" in capsys.readouterr().out.splitlines()[-1]
    assert sorted(p.name for p in (tmp_path / "depth").iterdir()) == ["a_depth.png"]


def test_predict_rejects_unknown_formats(tmp_path, checkpoint, capsys):
    shutil.copy("assets/example.png", tmp_path / "x.png")
    assert main(["predict", str(tmp_path / "x.png"), "--model", str(checkpoint), "--formats", "jpeg"]) == 2
    assert "--formats" in capsys.readouterr().err


def test_console_script_lists_every_subcommand():
    result = subprocess.run([sys.executable, "-m", "depth_anything.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for command in ("predict", "synth", "contact-sheet", "train", "label", "eval"):
        assert command in result.stdout
