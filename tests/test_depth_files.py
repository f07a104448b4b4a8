"""Depth files read back and converted: `info` and `convert` through the library and the command line."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from depth_anything.cli.__main__ import main
from depth_anything.depth_files import convert_depth_file, inspect_depth_file, load_depth_values
from depth_anything.errors import ConfigError
from depth_anything.geometry import Intrinsics
from depth_anything.metadata import read_metadata
from depth_anything.outputs import DepthWriter, PointCloudOptions, write_png


def metric_depth() -> np.ndarray:
    """A 24×32 map from 1.5 to 4 m, with millimetre-exact values (so 16-bit PNGs hold them exactly)."""
    return np.round(np.linspace(1.5, 4.0, 24 * 32).reshape(24, 32) * 1000) / 1000


@pytest.fixture
def written(tmp_path):
    """A metric prediction's png16 and npy, written as `predict` writes them (70° camera, a model name)."""
    writer = DepthWriter(
        tmp_path,
        ["png16", "npy", "normals"],
        metric=True,
        model="default-metric",
        input_size=266,
        points=PointCloudOptions(fov_deg=70.0),
    )
    return writer.write("room", None, metric_depth().astype(np.float32))


def test_png16_to_metres_npy_and_exr_keeps_values_and_record(tmp_path, written):
    npy = convert_depth_file(written["png16"], tmp_path / "room_m.npy")
    values = np.load(npy)
    np.testing.assert_allclose(values, metric_depth(), atol=1e-6)
    record = read_metadata(npy)
    assert (record.kind, record.model, record.png_scale, record.focal_source) == (
        "metric",
        "default-metric",
        None,
        "fov",
    )
    pytest.importorskip("OpenEXR")
    exr = convert_depth_file(written["png16"], tmp_path / "room.exr")
    back, exr_record = load_depth_values(exr)
    np.testing.assert_allclose(back, metric_depth(), atol=1e-6)
    assert exr_record == record


def test_metric_depth_to_points_uses_the_recorded_camera(tmp_path, written):
    plyfile = pytest.importorskip("plyfile")
    ply = convert_depth_file(written["npy"], tmp_path / "room.ply", stride=2)
    vertex = plyfile.PlyData.read(str(ply))["vertex"]
    camera = Intrinsics.from_fov(32, 24, 70.0)
    depth = metric_depth()
    assert len(vertex) == 12 * 16
    # the last vertex is pixel (30, 22): x = (u - cx) z / fx
    assert float(vertex["x"][-1]) == pytest.approx((30 - camera.cx) * depth[22, 30] / camera.fx, rel=1e-5)
    assert read_metadata(ply).content == "points"


def test_a_png_from_elsewhere_needs_its_scale_and_zero_is_invalid(tmp_path):
    stored = np.array([[0, 256], [512, 1024]], np.uint16)  # KITTI: metres × 256, 0 = no measurement
    source = write_png(tmp_path / "kitti.png", stored)
    with pytest.raises(ConfigError, match="kitti.png.*scale"):
        convert_depth_file(source, tmp_path / "k.npy")
    values = np.load(convert_depth_file(source, tmp_path / "k.npy", png_scale=256))
    assert np.isnan(values[0, 0]) and values[1, 1] == 4.0
    with pytest.raises(ConfigError, match="records no camera"):
        convert_depth_file(source, tmp_path / "k.ply", png_scale=256)


def test_relative_depth_is_refused_as_points(tmp_path):
    npy = DepthWriter(tmp_path, ["npy"], metric=False).write("rel", None, np.ones((4, 4), np.float32))["npy"]
    with pytest.raises(ConfigError, match="relative depth"):
        convert_depth_file(npy, tmp_path / "rel.ply", intrinsics=Intrinsics.from_fov(4, 4, 60))
    with pytest.raises(ConfigError, match="choose .npy"):
        convert_depth_file(npy, tmp_path / "rel.jpg")


def test_inspect_describes_values_and_camera(written):
    info = inspect_depth_file(written["png16"])
    assert info.format == "png16" and info.shape == (24, 32)
    assert info.value_range == pytest.approx((1.5, 4.0))
    text = "\n".join(info.lines())
    assert "millimetres" in text and "default-metric" in text and "fov_deg: 70" in text
    normals = "\n".join(inspect_depth_file(written["normals"]).lines())
    assert "surface normals" in normals


def test_info_and_convert_commands(tmp_path, written, capsys):
    assert main(["info", str(written["png16"]), str(written["npy"])]) == 0
    out = capsys.readouterr().out
    assert (
        "room_depth16.png: png16" in out
        and "room.npy: NPY, float32 24x32" in out
        and "focal_source: fov" in out
    )
    target = tmp_path / "converted.npy"
    assert main(["convert", str(written["png16"]), str(target), "--fov", "50"]) == 0
    assert read_metadata(target).fov_deg == pytest.approx(50.0)
    assert "focal_source: fov" in capsys.readouterr().out
    missing = tmp_path / "nothing.png"
    assert (
        main(["info", str(missing), str(written["npy"])]) == 1
    )  # reported, and the other file still described
    captured = capsys.readouterr()
    assert "nothing.png" in captured.err and "room.npy" in captured.out


@pytest.mark.parametrize("suffix", [".glb", ".ply", ".obj"])
def test_info_reads_the_meshes_that_mesh_writes(tmp_path, suffix):
    pytest.importorskip("trimesh")
    from depth_anything.mesh import depth_to_mesh, write_mesh
    from depth_anything.metadata import DepthMetadata

    depth = metric_depth()
    camera = Intrinsics.from_fov(32, 24, 65.0)
    mesh = depth_to_mesh(depth, np.zeros((24, 32, 3), np.uint8), camera)
    record = DepthMetadata.for_model(
        True,
        "default-metric",
        266,
        content="mesh",
        width=32,
        height=24,
        intrinsics=camera,
        focal_source="exif",
    )
    path = write_mesh(tmp_path / f"room{suffix}", mesh, record)
    info = inspect_depth_file(path)
    assert info.record == record
    text = "\n".join(info.lines())
    assert "focal_source: exif" in text and "fov_deg: 65" in text
    triangles = info.details.get("triangles", info.details.get("elements"))
    assert str(len(mesh.faces)) in str(triangles)


def test_relative_png16_converts_back_to_its_values(tmp_path):
    depth = np.linspace(0.25, 4.0, 48, dtype=np.float32).reshape(6, 8)
    png = DepthWriter(tmp_path, ["png16"], metric=False, model="default").write("rel", None, depth)["png16"]
    values = np.load(convert_depth_file(png, tmp_path / "rel.npy"))
    np.testing.assert_allclose(values, depth, atol=4.0 / 65535)
    assert read_metadata(tmp_path / "rel.npy").kind == "disparity"


def test_info_reads_a_videos_outputs(tmp_path):
    pytest.importorskip("av")
    from depth_anything.metadata import DepthMetadata
    from depth_anything.outputs import SequenceWriter, VideoWriter

    record = DepthMetadata.for_model(True, "default-metric", 128)
    with (
        VideoWriter(tmp_path / "clip_side.mp4", 8, record=record) as video,
        SequenceWriter(
            tmp_path, "clip", ["png16", "npz"], 8, metric=True, model="default-metric", input_size=128
        ) as raw,
    ):
        for index in range(3):
            video.write(np.full((16, 24, 3), 40 * index, np.uint8))
            raw.write(np.full((16, 24), 1.0 + index, np.float32))
    folder = "\n".join(inspect_depth_file(tmp_path / "clip").lines())
    assert "depth frames" in folder and "frame files: 3" in folder and "frames: 3" in folder
    npz = inspect_depth_file(tmp_path / "clip.npz")
    assert npz.shape == (3, 16, 24) and npz.value_range == (1.0, 3.0) and npz.record.frames == 3
    mp4 = inspect_depth_file(tmp_path / "clip_side.mp4")
    assert (mp4.format, mp4.record.content, mp4.record.frames, mp4.record.fps) == ("MP4", "picture", 3, 8.0)


def test_info_describes_files_from_elsewhere_by_what_their_format_tells(tmp_path, capsys):
    write_png(tmp_path / "sensor.png", np.array([[0, 1200], [2400, 3600]], np.uint16))
    write_png(tmp_path / "photo.png", np.zeros((4, 6, 3), np.uint8))
    sensor = inspect_depth_file(tmp_path / "sensor.png")
    assert sensor.record is None and sensor.value_range == (1200.0, 3600.0) and sensor.invalid == 1
    assert "--scale" in "\n".join(sensor.lines())
    assert main(["info", str(tmp_path / "photo.png"), "--json"]) == 0
    assert capsys.readouterr().out.strip() == "null"
    assert "metadata: none" in "\n".join(inspect_depth_file(tmp_path / "photo.png").lines())


def test_convert_asks_for_the_scale_in_its_own_flag_words(tmp_path, capsys):
    """The library asks for png_scale=; the command line shows that as --scale."""
    bare = tmp_path / "bare16.png"
    Image.fromarray(np.full((8, 8), 1000, np.uint16)).save(bare)
    assert main(["convert", str(bare), str(tmp_path / "bare.npy")]) != 0
    error = capsys.readouterr().err
    assert "--scale" in error and "png_scale=" not in error
    assert not (tmp_path / "bare.npy").exists()


@pytest.mark.parametrize("name", ["garbage.npy", "garbage.npz", "cut.npy"])
def test_unreadable_arrays_are_named_errors_in_info_and_convert(tmp_path, capsys, name):
    path = tmp_path / name
    if name == "cut.npy":
        np.save(path, np.ones((16, 16), np.float32))
        path.write_bytes(path.read_bytes()[:200])  # the data cut short
    else:
        path.write_bytes(b"not numpy at all\n")
    with pytest.raises(ConfigError, match=rf"{name}: not a readable"):
        load_depth_values(path)
    assert main(["info", str(path)]) == 1
    assert main(["convert", str(path), str(tmp_path / "out.png")]) != 0
    error = capsys.readouterr().err
    assert f"{name}: not a readable" in error and "Traceback" not in error
    assert not (tmp_path / "out.png").exists()


def test_convert_names_the_shape_of_an_array_that_is_no_map(tmp_path):
    np.save(tmp_path / "row.npy", np.ones(5, np.float32))
    with pytest.raises(ConfigError, match=r"row\.npy: holds an array of shape \(5,\)"):
        convert_depth_file(tmp_path / "row.npy", tmp_path / "row.png")


def test_info_names_a_damaged_ply(tmp_path, capsys):
    pytest.importorskip("plyfile")
    path = tmp_path / "short.ply"
    path.write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nend_header\n1 2\n")
    with pytest.raises(ConfigError, match=r"short\.ply: a damaged PLY file"):
        inspect_depth_file(path)
    assert main(["info", str(path)]) == 1
    assert "short.ply: a damaged PLY file" in capsys.readouterr().err


def test_an_exr_cut_short_in_its_pixels_is_named(tmp_path, capsys):
    openexr = pytest.importorskip("OpenEXR")
    path = tmp_path / "cut.exr"
    pixels = np.random.default_rng(0).random((240, 320)).astype(np.float32)
    openexr.File(
        {"compression": openexr.ZIP_COMPRESSION, "type": openexr.scanlineimage}, {"Z": pixels}
    ).write(str(path))
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 4 // 5])
    with pytest.raises(ConfigError, match=r"cut\.exr: an unreadable OpenEXR file"):
        load_depth_values(path)
    assert main(["convert", str(path), str(tmp_path / "cut.npy")]) != 0
    assert "cut.exr: an unreadable OpenEXR file" in capsys.readouterr().err


def test_an_array_without_a_record_is_declared_metric_for_points(tmp_path, capsys):
    """A bare .npy counts as relative (no points from it) unless kind='metric' (--values metric) says it holds
    metres; a file whose record says otherwise refuses the declaration."""
    bare = tmp_path / "lidar.npy"
    np.save(bare, metric_depth().astype(np.float32))
    camera = Intrinsics.from_fov(32, 24, 60)
    with pytest.raises(ConfigError, match="kind='metric'"):
        convert_depth_file(bare, tmp_path / "refused.ply", intrinsics=camera)
    ply = convert_depth_file(bare, tmp_path / "lidar.ply", intrinsics=camera, focal_source="fov", kind="metric")
    assert read_metadata(ply).kind == "metric"
    npy = convert_depth_file(bare, tmp_path / "metres.npy", kind="metric")
    assert read_metadata(npy).units == "metres"
    np.testing.assert_array_equal(np.load(npy), metric_depth().astype(np.float32))
    assert main(["convert", str(bare), str(tmp_path / "cli.ply"), "--values", "metric", "--fov", "60"]) == 0
    assert read_metadata(tmp_path / "cli.ply").kind == "metric"
    relative = DepthWriter(tmp_path, ["npy"], metric=False).write("rel", None, np.ones((4, 4), np.float32))["npy"]
    with pytest.raises(ConfigError, match="its record says"):
        convert_depth_file(relative, tmp_path / "rel.ply", kind="metric", intrinsics=Intrinsics.from_fov(4, 4, 60))
    assert main(["convert", str(relative), str(tmp_path / "rel2.ply"), "--values", "metric", "--fov", "60"]) != 0
    assert "--values" in capsys.readouterr().err
