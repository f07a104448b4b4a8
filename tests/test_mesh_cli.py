"""`depth-anything mesh` and the 3-D flags of `pointcloud` with the built-in metric model on a rendered scene
saved as a JPEG with an EXIF focal length: files, camera, edge clean-up and confidence filter."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

import depth_anything
from depth_anything.cli.__main__ import main
from depth_anything.errors import NoValidDepthError
from depth_anything.inference.confidence import predict_with_confidence
from depth_anything.io import load_image
from depth_anything.mesh import DEFAULT_EDGE_THRESHOLD, depth_edges, edge_spacing
from depth_anything.metadata import read_metadata

trimesh = pytest.importorskip("trimesh")
plyfile = pytest.importorskip("plyfile")
FOCAL_35MM = 0xA405


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A rendered room with furniture (depth edges), as a 96×72 JPEG taken with a 28 mm-equivalent lens."""
    from depth_anything.data.synthetic import SynthConfig, generate_sample

    image = generate_sample(5, 0, SynthConfig(width=96, height=72, indoor_fraction=1.0)).image
    exif = Image.Exif()
    exif.get_ifd(0x8769)[FOCAL_35MM] = 28
    path = tmp_path_factory.mktemp("photos") / "room.jpg"
    Image.fromarray(image).save(path, "JPEG", quality=95, exif=exif)
    return path


@pytest.fixture(scope="module")
def predictor():
    return depth_anything.open_predictor("default-metric")


def exif_focal(width: int = 96, height: int = 72) -> float:
    return 28 * math.hypot(width, height) / math.hypot(36, 24)


def test_mesh_writes_every_format_with_the_exif_camera(tmp_path, photo, predictor, capsys):
    out = tmp_path / "out"
    assert main(["mesh", str(photo), "--outdir", str(out), "--formats", "glb,mesh_ply,obj,confidence"]) == 0
    err = capsys.readouterr().err
    assert f"room: focal {exif_focal():.1f} px" in err and "from EXIF (FocalLengthIn35mmFilm 28 mm)" in err
    record = read_metadata(out / "room.glb")
    assert record.focal_source == "exif" and record.intrinsics.fx == pytest.approx(exif_focal())
    assert record.kind == "metric" and record.model == "default-metric" and record.content == "mesh"
    assert read_metadata(out / "room_mesh.ply").intrinsics == record.intrinsics

    # the vertices are the kept pixels seen through the EXIF camera: they project back onto the pixel grid
    mesh = trimesh.load(out / "room_mesh.ply", process=False)
    x, y, z = np.asarray(mesh.vertices, np.float64).T
    u, v = x / z * exif_focal() + 47.5, y / z * exif_focal() + 35.5
    np.testing.assert_allclose(u, np.round(u), atol=1e-3)
    np.testing.assert_allclose(v, np.round(v), atol=1e-3)
    depth = predictor.predict_one(load_image(photo))
    keep = ~depth_edges(depth, DEFAULT_EDGE_THRESHOLD, edge_spacing(depth.shape, predictor.input_size))
    pixels = set(zip(np.round(v).astype(int).tolist(), np.round(u).astype(int).tolist(), strict=True))
    assert all(keep[row, col] for row, col in pixels)  # no vertex on a depth edge
    np.testing.assert_allclose(z, depth[np.round(v).astype(int), np.round(u).astype(int)], rtol=1e-5)

    glb = trimesh.load(out / "room.glb", force="mesh", process=False)
    assert len(glb.faces) == len(mesh.faces) and glb.visual.uv is not None
    obj = trimesh.load(out / "room.obj", process=False)
    assert len(obj.faces) == len(mesh.faces)
    confidence = np.asarray(Image.open(out / "room_confidence.png"))
    expected = predict_with_confidence(predictor, load_image(photo)).confidence
    np.testing.assert_allclose(confidence / 255, expected, atol=1 / 255)


def test_pointcloud_drops_edges_and_unsure_pixels_exactly(tmp_path, photo, predictor):
    consistency = predict_with_confidence(predictor, load_image(photo))
    depth = consistency.depth
    edges = depth_edges(depth, DEFAULT_EDGE_THRESHOLD, edge_spacing(depth.shape, predictor.input_size))
    counts = {}
    for name, flags in (("all", ["--keep-edges"]), ("clean", []), ("sure", ["--min-confidence", "0.5"])):
        assert (
            main(["pointcloud", str(photo), "--outdir", str(tmp_path / name), "--no-progress", *flags]) == 0
        )
        counts[name] = plyfile.PlyData.read(str(tmp_path / name / "room.ply"))["vertex"].count
    assert counts["all"] == depth.size
    assert counts["clean"] == int((~edges).sum()) < depth.size
    assert counts["sure"] == int((~edges & (consistency.confidence >= 0.5)).sum())


def test_flags_and_no_exif_set_the_camera(tmp_path, photo, capsys):
    assert main(["pointcloud", str(photo), "--outdir", str(tmp_path / "a"), "--no-exif", "--fov", "90"]) == 0
    record = read_metadata(tmp_path / "a" / "room.ply")
    assert record.focal_source == "fov" and record.intrinsics.fx == pytest.approx(48.0)
    plain = tmp_path / "plain.png"
    Image.open(photo).save(plain)  # PNG: no EXIF
    assert main(["mesh", str(plain), "--outdir", str(tmp_path / "b")]) == 0
    assert read_metadata(tmp_path / "b" / "plain.glb").focal_source == "default"
    assert "assuming a 60° horizontal field of view" in capsys.readouterr().err


def test_a_relative_model_is_refused_naming_metric_models(tmp_path, photo, capsys):
    assert main(["mesh", str(photo), "--model", "default", "--outdir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "a mesh needs metric depth" in err and "default-metric" in err and "metric-vkitti-vitl" in err
    assert "--align-to SPARSE" in err
    assert not (tmp_path / "o").exists()


def test_a_batch_skips_and_reports_an_image_without_valid_depth(tmp_path, photo, predictor, capsys):
    from depth_anything.cli.batch import BatchRun

    other = tmp_path / "other.jpg"
    Image.open(photo).save(other)
    batch = BatchRun.collect([str(photo), str(other)], tmp_path / "o")
    written = []

    def write(image, result):
        if image.name == "room":
            raise NoValidDepthError(f"{image.name}: no pixel has a valid depth")
        written.append(image.name)

    assert batch.process(predictor, write, progress=False) == 1
    assert written == ["other"] and batch.failed == ["room: no pixel has a valid depth"]
    assert "skipped room: no pixel has a valid depth" in capsys.readouterr().err


def test_a_relative_model_aligned_to_sparse_metric_points_makes_a_metric_mesh(tmp_path):
    from depth_anything.data.synthetic import SynthConfig, generate_sample

    sample = generate_sample(5, 0, SynthConfig(width=96, height=72, indoor_fraction=1.0))
    Image.fromarray(sample.image).save(tmp_path / "room.png")
    rows, cols = np.nonzero(sample.valid)
    chosen = np.random.default_rng(0).choice(len(rows), 60, replace=False)
    lines = [f"{cols[i]},{rows[i]},{sample.depth[rows[i], cols[i]]:.4f}" for i in chosen]
    (tmp_path / "room.csv").write_text("x,y,metres\n" + "\n".join(lines) + "\n")
    out = tmp_path / "out"
    args = ["mesh", str(tmp_path / "room.png"), "--model", "default", "--outdir", str(out), "--fov", "60"]
    assert main([*args, "--align-to", str(tmp_path / "room.csv"), "--formats", "mesh_ply"]) == 0
    mesh = trimesh.load(out / "room_mesh.ply", process=False)
    x, y, z = np.asarray(mesh.vertices, np.float64).T
    focal = 48 / math.tan(math.radians(30))
    u = np.round(x / z * focal + 47.5).astype(int)
    v = np.round(y / z * focal + 35.5).astype(int)
    ratio = z / sample.depth[v, u]
    assert 0.7 < np.median(ratio) < 1.4  # metres, at the scale of the sparse points
    assert read_metadata(out / "room_mesh.ply").kind == "metric"
