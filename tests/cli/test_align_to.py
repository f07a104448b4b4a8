"""`predict --align-to SPARSE`: each prediction aligned to sparse metric depth (a CSV of pixel → metres, an
.npy map or a 16-bit PNG), written as metres; points outside the image and negative depths are skipped
and reported; an image whose sparse data is missing or too thin is skipped with the reason."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from depth_anything.cli.__main__ import main
from depth_anything.outputs import write_png


def _photo(path, seed: int) -> str:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:48, 0:64]
    picture = np.stack([x * 4, y * 5, (x + y) * 2], -1) + rng.integers(0, 20, (48, 64, 3))
    return str(write_png(path, np.clip(picture, 0, 255).astype(np.uint8)))


def _predict(photo: str, out, *extra: str) -> int:
    formats = [] if "--formats" in extra else ["--formats", "npy"]
    return main(["predict", photo, "--outdir", str(out), *formats, "--no-progress", *extra])


@pytest.fixture
def scene(tmp_path):
    """A photo, the built-in model's relative prediction for it, and metric depth that is an exact
    disparity-affine function of that prediction (so alignment must recover it everywhere)."""
    photo = _photo(tmp_path / "room.png", 1)
    assert _predict(photo, tmp_path / "relative") == 0
    relative = np.load(tmp_path / "relative" / "room.npy")
    truth = 1.0 / (0.5 * relative / relative.max() + 0.2)  # 1.4 to 5 metres
    return photo, truth


def test_csv_points_give_dense_metres_and_bad_points_are_reported(scene, tmp_path, capsys):
    photo, truth = scene
    rng = np.random.default_rng(2)
    rows, cols = rng.integers(0, 48, 25), rng.integers(0, 64, 25)
    lines = ["x,y,metres"] + [f"{c},{r},{truth[r, c]:.6f}" for r, c in zip(rows, cols, strict=True)]
    lines += ["64,3,2.0", "5,-1,2.0", "7,7,-3.5"]  # right of the image, above it, a negative depth
    (tmp_path / "points.csv").write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert (
        _predict(
            photo, tmp_path / "aligned", "--align-to", str(tmp_path / "points.csv"), "--formats", "npy,png16"
        )
        == 0
    )
    aligned = np.load(tmp_path / "aligned" / "room.npy")
    np.testing.assert_allclose(aligned, truth, rtol=1e-4)
    millimetres = cv2.imread(str(tmp_path / "aligned" / "room_depth16.png"), cv2.IMREAD_UNCHANGED)
    assert (
        np.abs(millimetres.astype(float) - truth * 1000).max() <= 1.0
    )  # written as metric depth, not relative
    err = capsys.readouterr().err
    assert "points.csv: skipped 3 point(s)" in err and "line 27: pixel (64, 3) outside the 64×48 image" in err
    assert "-3.5 m is not a positive distance" in err


def test_a_folder_of_sparse_maps_matches_images_by_name(scene, tmp_path, capsys):
    photo, truth = scene
    other = _photo(tmp_path / "hall.png", 3)
    folder = tmp_path / "sparse"
    folder.mkdir()
    sparse = np.zeros_like(truth)
    sparse[::6, ::6] = truth[::6, ::6]
    np.save(folder / "room.npy", sparse)  # hall has none: skipped with the reason, room still written
    capsys.readouterr()
    code = main(
        [
            "predict",
            photo,
            other,
            "--outdir",
            str(tmp_path / "aligned"),
            "--formats",
            "npy",
            "--no-progress",
            "--align-to",
            str(folder),
        ]
    )
    assert code == 1
    np.testing.assert_allclose(np.load(tmp_path / "aligned" / "room.npy"), truth, rtol=1e-4)
    assert not (tmp_path / "aligned" / "hall.npy").exists()
    assert "hall.png: not aligned" in capsys.readouterr().err
    code = main(
        [
            "predict",
            photo,
            other,
            "--outdir",
            str(tmp_path / "x"),
            "--formats",
            "npy",
            "--no-progress",
            "--align-to",
            str(folder / "room.npy"),
        ]
    )
    assert code == 1 and "one sparse file fits one input image" in capsys.readouterr().err


def test_too_few_points_skip_the_image_with_the_reason(scene, tmp_path, capsys):
    photo, truth = scene
    (tmp_path / "few.csv").write_text("1,1,2.0\n2,2,2.5\n")
    capsys.readouterr()
    assert _predict(photo, tmp_path / "aligned", "--align-to", str(tmp_path / "few.csv")) == 1
    assert "room.png: not aligned (2 valid metric point(s)" in capsys.readouterr().err
