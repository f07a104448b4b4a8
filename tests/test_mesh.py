"""Depth edges and meshes: a known depth map gives known vertices and faces, a depth step is cut
exactly at the step, and GLB/PLY/OBJ files read back (trimesh, plyfile) with their geometry and record."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from depth_anything.errors import ConfigError, NoValidDepthError
from depth_anything.geometry import Intrinsics, depth_to_points
from depth_anything.mesh import (
    DEFAULT_EDGE_THRESHOLD,
    depth_edges,
    depth_to_mesh,
    edge_spacing,
    grid_faces,
    grid_stride,
    write_mesh,
)
from depth_anything.metadata import DepthMetadata, read_metadata

trimesh = pytest.importorskip("trimesh")
plyfile = pytest.importorskip("plyfile")


def step(height: int = 5, width: int = 8, at: int = 4, near: float = 1.0, far: float = 2.0) -> np.ndarray:
    """A wall at `near` metres on the columns left of `at`, one at `far` from `at` on."""
    depth = np.full((height, width), far, np.float32)
    depth[:, :at] = near
    return depth


def test_the_edge_filter_marks_exactly_the_two_columns_at_a_step():
    edges = depth_edges(step(at=4))
    expected = np.zeros((5, 8), bool)
    expected[:, 3:5] = True
    np.testing.assert_array_equal(edges, expected)


def test_a_gentle_slope_and_invalid_pixels_are_no_edge():
    slope = np.linspace(1.0, 1.2, 8)[None, :].repeat(5, 0)  # 2.9 % per pixel at most: under 4 %
    assert not depth_edges(slope).any()
    assert depth_edges(slope, threshold=0.02).any()
    holes = np.ones((5, 8))
    holes[2, 3], holes[0, 0] = 0.0, np.nan  # no depth is a hole, not a jump
    assert not depth_edges(holes).any()


def test_edge_filter_on_points_drops_exactly_the_step_pixels():
    depth = step()
    camera = Intrinsics.from_focal(8, 5, 4.0)
    points, _ = depth_to_points(depth, camera, keep=~depth_edges(depth))
    assert len(points) == 5 * 6
    assert set(np.round(points[:, 0] / points[:, 2] * 4 + camera.cx).astype(int)) == {0, 1, 2, 5, 6, 7}


def test_a_wall_at_known_depth_gives_known_vertices_and_faces_facing_the_camera():
    depth = np.full((3, 4), 2.0, np.float32)
    camera = Intrinsics.from_focal(4, 3, focal=2.0)  # cx = 1.5, cy = 1
    mesh = depth_to_mesh(depth, None, camera)
    assert len(mesh.vertices) == 12 and len(mesh.faces) == 2 * 2 * 3
    np.testing.assert_allclose(mesh.vertices[0], [(0 - 1.5) * 2 / 2, (0 - 1) * 2 / 2, 2.0])
    np.testing.assert_allclose(mesh.vertices[11], [(3 - 1.5) * 2 / 2, (2 - 1) * 2 / 2, 2.0])
    np.testing.assert_array_equal(mesh.faces[0], [0, 4, 1])  # top-left block: a, c, b
    np.testing.assert_allclose(mesh.face_normals, np.tile([0.0, 0.0, -1.0], (12, 1)), atol=1e-12)
    assert mesh.area == pytest.approx(3 * 2 * 1.0)  # pixel pitch at 2 m: 2 / 2 = 1 m


def test_triangles_across_a_step_are_removed_and_kept_with_keep_edges():
    depth = step(height=4, width=6, at=3)  # columns 0-2 at 1 m, 3-5 at 2 m: columns 2 and 3 are the edge
    camera = Intrinsics.from_focal(6, 4, 5.0)
    cut = depth_to_mesh(depth, None, camera)
    joined = depth_to_mesh(depth, None, camera, edge_threshold=None)
    assert len(joined.faces) == 2 * 3 * 5 and len(cut.faces) == 2 * 3 * (
        1 + 1
    )  # blocks of columns 0-1 and 4-5
    for mesh, spanning in ((cut, 0), (joined, 2 * 3)):
        z = mesh.vertices[mesh.faces][:, :, 2]
        assert int(np.sum(z.max(axis=1) != z.min(axis=1))) == spanning
    # the mesh is made of the pixels the cleaned point cloud keeps
    kept, _ = depth_to_points(depth, camera, keep=~depth_edges(depth))
    np.testing.assert_allclose(np.sort(cut.vertices, axis=0), np.sort(kept, axis=0), rtol=1e-6)


def test_a_blurred_edge_is_caught_at_the_networks_pixel_spacing():
    depth = np.ones((3, 12))
    depth[:, 6:] = 2.0
    depth[:, 4:8] = [1.03, 1.3, 1.6, 1.94]  # a ramp of 3-25 % steps, as an upsampled prediction has
    assert depth_edges(depth, 0.04)[0].tolist() == [False] * 4 + [True] * 4 + [False] * 4
    assert depth_edges(depth, 0.35)[0].tolist() == [False] * 12  # no single step is 35 %
    assert depth_edges(depth, 0.35, spacing=2)[0].tolist() == [False] * 4 + [True] * 4 + [False] * 4
    assert (
        edge_spacing((1080, 1920), 518) == 2
        and edge_spacing((48, 64), 518) == 1
        and edge_spacing((9, 9), None) == 1
    )
    stride_two = depth_to_mesh(
        step(height=6, width=12, at=6), None, Intrinsics.from_focal(12, 6, 8.0), stride=2
    )
    z = stride_two.vertices[stride_two.faces][:, :, 2]
    assert np.all(z.max(axis=1) == z.min(axis=1))  # strided triangles across the step are dropped too


def test_stride_keep_mask_and_texture_coordinates():
    depth = np.ones((5, 7))
    image = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    keep = np.ones((5, 7), bool)
    keep[4, 6] = False
    mesh = depth_to_mesh(depth, image, Intrinsics.from_focal(7, 5, 3.0), stride=2, keep=keep)
    assert len(mesh.vertices) == 3 * 4 - 1  # rows 0, 2, 4 × columns 0, 2, 4, 6, less the masked corner
    np.testing.assert_array_equal(mesh.vertex_attributes["color"][0], image[0, 0])
    np.testing.assert_allclose(mesh.visual.uv[0], [0.5 / 7, 1 - 0.5 / 5])
    assert mesh.visual.material.image.size == (7, 5)


def test_huge_maps_take_every_nth_pixel_with_a_message(caplog):
    with caplog.at_level(logging.WARNING, logger="depth_anything.mesh"):
        assert grid_stride(4000, 3000, 1, max_points=1_000_000) == 4
    assert "every 4-th pixel" in caplog.text
    assert grid_stride(100, 100, 3) == 3
    mesh = depth_to_mesh(np.ones((40, 30)), None, Intrinsics.from_focal(30, 40, 20.0), max_vertices=300)
    assert len(mesh.vertices) <= 300


def test_no_valid_depth_is_refused():
    with pytest.raises(NoValidDepthError, match="no pixel has a valid depth"):
        depth_to_mesh(np.zeros((4, 4)), None, Intrinsics.from_focal(4, 4, 3.0))


def test_grid_faces_skip_blocks_with_a_hole():
    valid = np.ones((2, 3), bool)
    valid[0, 0] = False
    faces = grid_faces(valid)
    assert len(faces) == 3  # the left block keeps only its lower-right triangle


def test_files_read_back_with_their_geometry_texture_and_record(tmp_path):
    depth = step(height=4, width=6, at=3)
    image = np.random.default_rng(0).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    camera = Intrinsics.from_focal(6, 4, 5.0)
    mesh = depth_to_mesh(depth, image, camera)
    record = DepthMetadata(
        kind="metric", content="mesh", width=6, height=4, intrinsics=camera, focal_source="exif"
    )

    glb = trimesh.load(write_mesh(tmp_path / "m.glb", mesh, record), force="mesh", process=False)
    np.testing.assert_allclose(
        glb.vertices, mesh.vertices * [1, -1, -1], rtol=1e-6
    )  # glTF: y up, camera along -z
    np.testing.assert_array_equal(glb.faces, mesh.faces)
    assert np.asarray(glb.visual.material.baseColorTexture).shape[:2] == (4, 6)
    assert read_metadata(tmp_path / "m.glb") == record

    ply = plyfile.PlyData.read(str(write_mesh(tmp_path / "m.ply", mesh, record)))
    np.testing.assert_allclose(np.stack([ply["vertex"][a] for a in "xyz"], 1), mesh.vertices, rtol=1e-6)
    np.testing.assert_array_equal(np.stack(ply["face"]["vertex_indices"]), mesh.faces)
    np.testing.assert_array_equal(ply["vertex"]["red"], mesh.vertex_attributes["color"][:, 0])
    assert read_metadata(tmp_path / "m.ply") == record

    obj = trimesh.load(write_mesh(tmp_path / "m.obj", mesh, record), process=False)
    np.testing.assert_allclose(obj.vertices, mesh.vertices, rtol=1e-6)
    assert len(obj.faces) == len(mesh.faces)
    assert "exif" in (tmp_path / "m.obj").read_text().splitlines()[0]
    with pytest.raises(ConfigError, match=r"\.glb"):
        write_mesh(tmp_path / "m.stl", mesh)


def test_the_writer_cleans_clouds_and_meshes_and_writes_confidence(tmp_path):
    from depth_anything.outputs import DepthWriter, PointCloudOptions

    depth = step(height=4, width=6, at=3)
    image = np.full((4, 6, 3), 200, np.uint8)
    confidence = np.ones((4, 6))
    confidence[0, 0] = 0.2  # one unsure pixel
    camera = Intrinsics.from_focal(6, 4, 5.0)
    formats = ["ply", "glb", "mesh_ply", "obj", "confidence"]
    cleaned = DepthWriter(
        tmp_path / "clean", formats, metric=True, points=PointCloudOptions(min_confidence=0.5)
    )
    written = cleaned.write("a", image, depth, intrinsics=camera, focal_source="exif", confidence=confidence)
    assert written["mesh_ply"].name == "a_mesh.ply" and written["confidence"].name == "a_confidence.png"
    cloud = plyfile.PlyData.read(str(written["ply"]))["vertex"]
    assert len(cloud) == 4 * 6 - 2 * 4 - 1  # the step's two columns and the unsure pixel are gone
    mesh = plyfile.PlyData.read(str(written["mesh_ply"]))
    assert len(mesh["face"]) == 2 * 3 * 2 - 1  # the unsure corner takes one triangle with it
    glb = trimesh.load(written["glb"], force="mesh", process=False)
    assert len(glb.faces) == len(mesh["face"])
    assert (
        read_metadata(written["glb"]).focal_source == "exif"
        and read_metadata(written["glb"]).content == "mesh"
    )
    picture = np.asarray(Image.open(written["confidence"]))
    assert picture[0, 0] == 51 and picture[1, 1] == 255
    assert PointCloudOptions().edge_threshold == DEFAULT_EDGE_THRESHOLD  # clouds are cleaned by default
    everything = DepthWriter(
        tmp_path / "all", ["ply"], metric=True, points=PointCloudOptions(edge_threshold=None)
    )
    assert (
        len(
            plyfile.PlyData.read(str(everything.write("a", image, depth, intrinsics=camera)["ply"]))["vertex"]
        )
        == 24
    )
    with pytest.raises(NoValidDepthError, match="b: no pixel"):
        cleaned.write("b", image, np.zeros((4, 6)), intrinsics=camera, confidence=confidence)
    with pytest.raises(ValueError, match="confidence map"):
        cleaned.write("c", image, depth, intrinsics=camera)


def test_relative_models_are_refused_for_meshes_with_the_metric_models_named(tmp_path):
    from depth_anything.outputs import DepthWriter

    with pytest.raises(ConfigError, match="needs metric depth.*default-metric"):
        DepthWriter(tmp_path, ["glb"], metric=False)


def test_a_huge_cloud_is_decimated_with_a_message(tmp_path, monkeypatch, caplog):
    from depth_anything.outputs import DepthWriter, PointCloudOptions

    monkeypatch.setattr("depth_anything.mesh.MAX_CLOUD_POINTS", 100)  # a 40×30 map stands for a huge photo
    writer = DepthWriter(tmp_path, ["ply"], metric=True, points=PointCloudOptions(edge_threshold=None))
    with caplog.at_level(logging.WARNING, logger="depth_anything.mesh"):
        path = writer.write("big", None, np.ones((30, 40)), intrinsics=Intrinsics.from_focal(40, 30, 20.0))[
            "ply"
        ]
    assert plyfile.PlyData.read(str(path))["vertex"].count == 8 * 10  # every 4th pixel: ⌈30/4⌉ × ⌈40/4⌉
    assert "using every 4-th pixel" in caplog.text


def test_clouds_look_for_edges_at_the_networks_pixel_spacing():
    from depth_anything.outputs import PointCloudOptions

    depth = np.ones((256, 300))
    depth[:, 150:] = 2.0
    depth[:, 146:154] = np.linspace(1.0, 2.0, 10)[1:-1]  # an edge blurred over 8 pixels: steps of 11 %
    options = PointCloudOptions(network_side=64, edge_threshold=0.3)  # a 64-pixel network: spacing 4
    assert options.edge_spacing(depth.shape) == 4
    np.testing.assert_array_equal(options.keep(depth), ~depth_edges(depth, 0.3, spacing=4))
    assert not options.keep(depth)[0, 146:154].any()  # the ramp is caught whole...
    assert PointCloudOptions(edge_threshold=0.3).keep(depth).all()  # ...and missed pixel to pixel
