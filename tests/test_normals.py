"""Normals from depth and intrinsics: exact on planes at known tilts, close on a sphere, sharp at
occlusion edges, and different from image-space gradients (the camera matters)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depth_anything.geometry import Intrinsics
from depth_anything.normals import angular_error_deg, backproject, depth_to_normals, normals_picture

WIDTH, HEIGHT = 64, 48


def rays(camera: Intrinsics) -> np.ndarray:
    """Each pixel's ray direction (z = 1)."""
    v, u = np.indices((HEIGHT, WIDTH), dtype=np.float64)
    return np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)], axis=-1)


def plane_depth(normal: np.ndarray, offset: float, camera: Intrinsics) -> np.ndarray:
    """Depth of the plane normal·X = offset seen by `camera`."""
    return offset / (rays(camera) @ normal)


def tilted(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """A unit normal facing the camera, turned by yaw (about y) and pitch (about x)."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    normal = np.array([math.sin(yaw) * math.cos(pitch), math.sin(pitch), -math.cos(yaw) * math.cos(pitch)])
    return normal / np.linalg.norm(normal)


@pytest.mark.parametrize(("yaw", "pitch", "fov"), [(0, 0, 60), (30, 0, 60), (0, -40, 90), (25, 20, 40)])
def test_a_plane_at_a_known_tilt_gives_its_normal_everywhere(yaw, pitch, fov):
    camera = Intrinsics.from_fov(WIDTH, HEIGHT, fov)
    normal = tilted(yaw, pitch)
    normals = depth_to_normals(plane_depth(normal, -3.0, camera), camera)
    assert normals.shape == (HEIGHT, WIDTH, 3) and normals.dtype == np.float32
    assert np.abs(normals - normal).max() < 1e-5


def test_a_sphere_gives_its_radial_normals_even_at_its_silhouette():
    camera = Intrinsics.from_fov(WIDTH, HEIGHT, 60)
    centre, radius = np.array([0.0, 0.0, 4.0]), 1.0
    direction = rays(camera)
    # ray-sphere intersection t² |d|² - 2 t d·c + |c|² - r² = 0, nearer root
    a, b, c = (direction**2).sum(-1), -2 * direction @ centre, centre @ centre - radius**2
    disc = b**2 - 4 * a * c
    hit = disc > 0
    t = np.where(hit, (-b - np.sqrt(np.where(hit, disc, 0))) / (2 * a), np.nan)
    wall = np.full((HEIGHT, WIDTH), 9.0)  # background wall facing the camera
    depth = np.where(hit, t, wall)
    truth = np.where(hit[..., None], (direction * t[..., None] - centre) / radius, [0.0, 0.0, -1.0])
    error = angular_error_deg(depth_to_normals(depth, camera), truth)
    inside = (
        hit.copy()
    )  # the sphere without its two outer pixel rings, where one-sided steps meet grazing curvature
    for _ in range(2):
        inside[1:-1, 1:-1] &= inside[:-2, 1:-1] & inside[2:, 1:-1] & inside[1:-1, :-2] & inside[1:-1, 2:]
    assert np.nanmax(error[inside]) < 3.0
    assert np.median(error[hit]) < 1.0
    assert np.nanmax(error[hit]) < 10.0  # the ring too: its normals come from the sphere, not from the wall
    assert np.nanmax(error[~hit]) < 1e-4  # the wall next to the sphere is not bent toward it


def test_camera_aware_normals_differ_from_image_space_gradients_and_need_the_right_camera():
    camera = Intrinsics.from_fov(WIDTH, HEIGHT, 90)
    normal = tilted(35, 10)
    depth = plane_depth(normal, -2.0, camera)
    dz_dv, dz_du = np.gradient(depth)
    image_space = np.stack([dz_du, dz_dv, -np.ones_like(depth)], axis=-1)  # tilt of z over pixels, no camera
    image_space /= np.linalg.norm(image_space, axis=-1, keepdims=True)
    assert np.median(angular_error_deg(image_space, normal)) > 20
    assert np.max(angular_error_deg(depth_to_normals(depth, camera), normal)) < 0.01  # float32 rounding
    wrong_camera = Intrinsics.from_fov(WIDTH, HEIGHT, 30)
    assert np.median(angular_error_deg(depth_to_normals(depth, wrong_camera), normal)) > 5


def test_invalid_depth_gives_nan_and_black_pixels():
    camera = Intrinsics.from_fov(8, 6, 60)
    depth = np.full((6, 8), 2.0)
    depth[2, 3] = 0.0
    depth[4, 5] = np.nan
    normals = depth_to_normals(depth, camera)
    assert np.isnan(normals[2, 3]).all() and np.isnan(normals[4, 5]).all()
    assert np.allclose(normals[0, 0], [0, 0, -1], atol=1e-6)  # neighbours of a hole still find a side
    picture = normals_picture(normals)
    assert picture.dtype == np.uint8 and tuple(picture[2, 3]) == (0, 0, 0)
    assert tuple(picture[0, 0]) == (128, 128, 255)  # facing the camera: OpenGL +z, lavender


def test_picture_colours_follow_the_opengl_axes():
    right_up_front = np.array([[[1.0, 0, 0], [0, -1.0, 0]]])  # camera frame: +x (right), -y (up)
    assert normals_picture(right_up_front).tolist() == [[[255, 128, 128], [128, 255, 128]]]


def test_backprojection_matches_the_pinhole_formula():
    camera = Intrinsics(50.0, 40.0, 3.0, 2.0)
    points = backproject(np.full((5, 7), 2.0), camera)
    assert points[4, 6].tolist() == pytest.approx([(6 - 3) * 2 / 50, (4 - 2) * 2 / 40, 2.0])


def test_the_writer_computes_normals_with_its_camera_and_refuses_relative_depth(tmp_path):
    from depth_anything.errors import ConfigError
    from depth_anything.outputs import DepthWriter, PointCloudOptions

    camera = Intrinsics.from_fov(WIDTH, HEIGHT, 80)
    normal = tilted(20, -15)
    depth = plane_depth(normal, -2.5, camera).astype(np.float32)
    writer = DepthWriter(
        tmp_path, ["normals", "normals_npy"], metric=True, points=PointCloudOptions(fov_deg=80)
    )
    written = writer.write("plane", None, depth)
    saved = np.load(written["normals_npy"])
    assert saved.shape == (HEIGHT, WIDTH, 3) and np.max(angular_error_deg(saved, normal)) < 0.05
    from depth_anything.io import load_image

    np.testing.assert_array_equal(load_image(written["normals"]), normals_picture(saved))
    with pytest.raises(ConfigError, match="normals.*needs metric depth.*default-metric"):
        DepthWriter(tmp_path, ["color", "normals"], metric=False)


def test_rendered_scene_normals_agree_with_the_renderers_geometry():
    from depth_anything.data.synthetic import SynthConfig, render, sample_rng, sample_scene
    from depth_anything.data.synthetic.render import surface_normals

    config = SynthConfig(
        width=64,
        height=48,
        indoor_fraction=1.0,
        mirror_probability=0.0,
        glass_probability=0.0,
        fog_probability=0.0,
        noise_probability=0.0,
    )
    scene = sample_scene(sample_rng(7, 0), config)
    rendered = render(scene)
    truth = surface_normals(scene)
    assert truth.shape == (48, 64, 3) and np.allclose(
        np.linalg.norm(truth[rendered.valid], axis=-1), 1, atol=1e-5
    )
    depth = np.where(rendered.valid, rendered.depth, 0)
    error = angular_error_deg(depth_to_normals(depth, scene.camera.intrinsics), truth)[rendered.valid]
    assert np.nanmedian(error) < 0.5
    rays = backproject(depth, scene.camera.intrinsics)[rendered.valid]
    assert (np.sum(truth[rendered.valid] * rays, axis=-1) < 0).all()  # every seen surface faces its ray


def test_bands_of_rows_give_the_same_normals_as_one_piece():
    rng = np.random.default_rng(4)
    depth = 2.0 + rng.random((37, 23))
    depth[rng.random(depth.shape) < 0.05] = 0.0  # holes
    depth[:, 11:] += 3.0  # an occlusion edge
    camera = Intrinsics(30.0, 31.0, 11.0, 18.0)
    whole = depth_to_normals(depth, camera, band_pixels=depth.size)
    for band_pixels in (23, 2 * 23, 5 * 23 + 7):
        np.testing.assert_array_equal(depth_to_normals(depth, camera, band_pixels=band_pixels), whole)


def test_predict_writes_normals_with_the_camera_and_refuses_relative_models(tmp_path, capsys):
    from PIL import Image

    from depth_anything.cli.__main__ import main
    from depth_anything.metadata import read_metadata

    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(
        tmp_path / "a.png"
    )
    out = tmp_path / "out"
    argv = ["predict", str(tmp_path / "a.png"), "--outdir", str(out), "--no-progress"]
    assert main([*argv, "--model", "default-metric", "--formats", "normals,normals_npy", "--fov", "75"]) == 0
    assert "a: focal" in capsys.readouterr().err  # the camera used is printed, with where it came from
    normals = np.load(out / "a_normals.npy")
    assert normals.shape == (40, 56, 3) and np.allclose(np.linalg.norm(normals, axis=-1), 1, atol=1e-5)
    record = read_metadata(out / "a_normals.png")
    assert (record.content, record.focal_source, record.model) == ("normals", "fov", "default-metric")
    assert record.fov_deg == pytest.approx(75.0) and read_metadata(out / "a_normals.npy") == record
    assert main([*argv, "--model", "default", "--formats", "normals"]) == 2
    assert "needs metric depth" in capsys.readouterr().err


def test_predict_takes_the_photos_exif_focal_unless_told_not_to(tmp_path):
    """predict's camera follows the 3-D commands' rule: EXIF first, --no-exif for --fov/--focal everywhere."""
    from PIL import Image

    from depth_anything.cli.__main__ import main
    from depth_anything.metadata import read_metadata

    photo = tmp_path / "b.jpg"
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 24  # the EXIF sub-IFD's FocalLengthIn35mmFilm
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(photo, exif=exif)
    argv = ["predict", str(photo), "--model", "default-metric", "--formats", "normals", "--fov", "75", "--no-progress"]
    assert main([*argv, "--outdir", str(tmp_path / "exif")]) == 0
    assert read_metadata(tmp_path / "exif" / "b_normals.png").focal_source == "exif"
    assert main([*argv, "--outdir", str(tmp_path / "fov"), "--no-exif"]) == 0
    record = read_metadata(tmp_path / "fov" / "b_normals.png")
    assert record.focal_source == "fov" and record.fov_deg == pytest.approx(75.0)
