"""Depth → points with pinhole intrinsics, PLY files read back with plyfile, and `depth-anything pointcloud`
(metric models only)."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from model_helpers import randomize_, tiny_config
from PIL import Image

from depth_anything import build_model
from depth_anything.cli.__main__ import main
from depth_anything.geometry import Intrinsics, depth_to_points, write_ply
from depth_anything.weights import save_checkpoint

plyfile = pytest.importorskip("plyfile")
FAST = ["--input-size", "28", "--device", "cpu"]


def test_a_plane_at_known_depth_gives_hand_computed_points():
    depth = np.full((3, 5), 2.0, np.float32)  # a wall 2 m in front of the camera
    intrinsics = Intrinsics.from_focal(5, 3, focal=4.0)
    assert (intrinsics.cx, intrinsics.cy) == (2.0, 1.0)  # the image centre
    points, _ = depth_to_points(depth, intrinsics)
    assert points.shape == (15, 3) and points.dtype == np.float32
    np.testing.assert_allclose(points[0], [(0 - 2) * 2 / 4, (0 - 1) * 2 / 4, 2])  # top left: left (x<0) and up (y<0)
    np.testing.assert_allclose(points[7], [0, 0, 2])  # the centre pixel lies on the optical axis
    np.testing.assert_allclose(points[14], [1.0, 0.5, 2])  # bottom right: (4-2)*2/4, (2-1)*2/4
    assert np.all(points[:, 2] == 2.0)


def test_fov_sets_the_focal_length_and_the_image_edges_span_it():
    intrinsics = Intrinsics.from_fov(640, 480, 60.0)
    assert intrinsics.fx == pytest.approx(320 / math.tan(math.radians(30)))
    depth = np.ones((480, 640), np.float32)
    points, _ = depth_to_points(depth, intrinsics)
    half_angle = math.degrees(math.atan(points[:, 0].max() / 1.0))
    assert half_angle == pytest.approx(30.0, abs=0.1)  # half of the 60° horizontal field of view
    with pytest.raises(ValueError):
        Intrinsics.from_fov(640, 480, 180.0)


def test_stride_max_points_invalid_pixels_and_colours():
    depth = np.arange(1, 37, dtype=np.float32).reshape(6, 6)
    depth[0, 0], depth[2, 2] = np.nan, 0.0  # no depth there
    colors = np.zeros((6, 6, 3), np.uint8)
    colors[..., 0] = np.arange(36).reshape(6, 6)
    points, picked = depth_to_points(depth, Intrinsics.from_focal(6, 6, 3.0), colors, stride=2)
    assert len(points) == 9 - 2  # 3×3 pixels kept, two without depth dropped
    np.testing.assert_array_equal(picked[:, 0], [2, 4, 12, 16, 24, 26, 28])  # each point keeps its pixel's colour
    some, _ = depth_to_points(depth, Intrinsics.from_focal(6, 6, 3.0), max_points=5)
    again, _ = depth_to_points(depth, Intrinsics.from_focal(6, 6, 3.0), max_points=5)
    assert len(some) == 5 and np.array_equal(some, again)  # seeded: repeatable


def test_ply_reads_back_with_plyfile(tmp_path):
    points = np.array([[0.0, -1.0, 2.5], [1.5, 0.25, 3.0]], np.float32)
    colors = np.array([[255, 0, 10], [1, 2, 3]], np.uint8)
    path = write_ply(tmp_path / "cloud.ply", points, colors)
    assert path.read_bytes().startswith(b"ply\nformat binary_little_endian 1.0")
    vertex = plyfile.PlyData.read(str(path))["vertex"]
    assert vertex.count == 2
    assert [vertex.data.dtype[n] for n in ("x", "y", "z", "red", "green", "blue")] == [np.dtype("<f4")] * 3 + [np.dtype("u1")] * 3
    np.testing.assert_array_equal(np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1), points)
    np.testing.assert_array_equal(np.stack([vertex["red"], vertex["green"], vertex["blue"]], axis=1), colors)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("w")
    relative = save_checkpoint(randomize_(build_model(tiny_config()), seed=2), root / "relative.pt")
    metric = save_checkpoint(randomize_(build_model(tiny_config(max_depth=20.0)), seed=2), root / "metric.pt")
    return relative, metric


def _photo(path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(path)
    return path


def test_metric_model_writes_a_coloured_cloud_per_image(tmp_path, models, capsys):
    photo = _photo(tmp_path / "room.png")
    out = tmp_path / "out"
    assert main(["pointcloud", str(photo), "--model", str(models[1]), "--outdir", str(out), "--focal", "30", "--keep-edges",
                 *FAST]) == 0
    vertex = plyfile.PlyData.read(str(out / "room.ply"))["vertex"]
    assert vertex.count == 30 * 40
    z = np.asarray(vertex["z"])
    assert 0 < z.min() and z.max() < 20  # metres, within the model's range
    rgb = np.asarray(Image.open(photo))
    np.testing.assert_array_equal([vertex["red"][0], vertex["green"][0], vertex["blue"][0]], rgb[0, 0])
    np.testing.assert_allclose(vertex["x"][0], (0 - 19.5) * z[0] / 30, rtol=1e-5)  # --focal 30, centre at 19.5
    assert main(["pointcloud", str(photo), "--model", str(models[1]), "--outdir", str(tmp_path / "s"),
                 "--stride", "2", "--max-points", "100", *FAST]) == 0
    assert plyfile.PlyData.read(str(tmp_path / "s" / "room.ply"))["vertex"].count == 100


def test_relative_model_is_refused_with_the_metric_names(tmp_path, models, capsys):
    photo = _photo(tmp_path / "room.png")
    assert main(["pointcloud", str(photo), "--model", str(models[0]), "--outdir", str(tmp_path / "o"), *FAST]) == 2
    err = capsys.readouterr().err
    assert "metric depth" in err and "default-metric" in err and "metric-hypersim-vitl" in err
    assert not (tmp_path / "o").exists()


def test_missing_plyfile_names_the_extra(tmp_path, models, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "plyfile", None)
    photo = _photo(tmp_path / "room.png")
    assert main(["pointcloud", str(photo), "--model", str(models[1]), "--outdir", str(tmp_path / "o"), *FAST]) == 2
    assert "depth-anything[pointcloud]" in capsys.readouterr().err



def test_missing_built_in_metric_model_names_a_metric_download(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("depth_anything.weights.registry.BUILTIN_DIR", tmp_path / "no_weights_here")
    assert main(["pointcloud", str(_photo(tmp_path / "room.png")), "--outdir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no built-in model in this install" in err and "--model metric-hypersim-vits" in err
