"""The synthetic renderer against answers computed by hand: depth of planes, spheres, boxes, rods,
occlusion, mirrors, glass, fences, sky, shadows; plus the random scene generator's invariants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depth_anything.data.synthetic import SynthConfig, generate_sample, render, sample_rng, sample_scene
from depth_anything.data.synthetic.scene import (
    Camera,
    Cutout,
    Light,
    Material,
    Scene,
    box,
    cylinder,
    plane,
    quad,
    sphere,
)
from depth_anything.data.synthetic.textures import available_photos, load_photo
from depth_anything.errors import ConfigError

GREY = Material("solid", (0.5, 0.5, 0.5))
RED = Material("solid", (0.9, 0.05, 0.05))
GREEN = Material("solid", (0.05, 0.9, 0.05))
SIZE = 33  # odd, so the centre pixel's ray is the optical axis
CENTRE = SIZE // 2


def looking_north(size: int = SIZE, hfov: float = 60.0, position=(0.0, 0.0, 1.0), **angles) -> Camera:
    return Camera.from_angles(size, size, hfov, np.array(position), **angles)


def scene_of(prims, camera=None, lights=None, sky=None) -> Scene:
    return Scene(camera or looking_north(), prims, lights or [Light((1, 1, 1), position=(0, 0, 3))],
                 np.full(3, 0.2, np.float32), sky=sky)


def project(camera: Camera, point) -> tuple[int, int]:
    """(row, column) of the pixel that sees a world point."""
    local = camera.rotation.T @ (np.asarray(point, float) - camera.position)
    u, v, _ = camera.intrinsics.matrix @ (local / local[2])
    return int(round(v)), int(round(u))


def test_fronto_parallel_plane_renders_to_its_distance_everywhere():
    wall = plane((0, 7.25, 0), (0, -1, 0), GREY, role="wall")
    result = render(scene_of([wall]))
    assert result.valid.all()
    np.testing.assert_allclose(result.depth, 7.25, rtol=1e-6)


def test_ground_plane_depth_follows_the_pinhole_formula():
    camera = looking_north(size=41, position=(0, 0, 1.6))
    result = render(scene_of([plane((0, 0, 0), (0, 0, 1), GREY)], camera, sky=(np.ones(3), np.ones(3))))
    rows = np.arange(41)
    below = rows > camera.intrinsics.cy
    expected = camera.intrinsics.fy * 1.6 / (rows[below] - camera.intrinsics.cy)  # z = f·h / (v − cy)
    np.testing.assert_allclose(result.depth[below, 20], expected, rtol=1e-5)
    # at and above the horizon there is only sky: invalid, depth stored as 0
    assert not result.valid[~below].any()
    assert (result.depth[~below] == 0).all()


def test_sphere_centre_depth_is_distance_minus_radius():
    result = render(scene_of([sphere((0, 6.0, 1.0), 1.25, GREY)]))
    assert result.depth[CENTRE, CENTRE] == pytest.approx(6.0 - 1.25, abs=1e-4)
    assert not result.valid[0, 0]  # the corner ray misses it


def test_box_and_rod_depths():
    prims = [box((0, 5.0, 1.0), (0.4, 0.3, 0.4), GREY)]
    result = render(scene_of(prims))
    assert result.depth[CENTRE, CENTRE] == pytest.approx(5.0 - 0.3, abs=1e-4)
    # a vertical rod 2 cm thick: exact depth on its axis
    rod = cylinder((0, 3.0, -5.0), (0, 3.0, 7.0), 0.01, GREY)
    result = render(scene_of([rod]))
    assert result.depth[CENTRE, CENTRE] == pytest.approx(3.0 - 0.01, abs=1e-4)
    assert result.valid[:, CENTRE].all() and not result.valid[:, 0].any()


def test_occlusion_picks_the_nearer_object_in_any_order():
    near, far = sphere((0, 4.0, 1.0), 0.5, RED), box((0, 6.0, 1.0), (1, 0.2, 1), GREEN)
    for prims in ([near, far], [far, near]):
        result = render(scene_of(prims))
        assert result.depth[CENTRE, CENTRE] == pytest.approx(3.5, abs=1e-4)
        assert result.primitive[CENTRE, CENTRE] == prims.index(near)
        red, green = result.image[CENTRE, CENTRE, 0], result.image[CENTRE, CENTRE, 1]
        assert red > green


def test_mirror_pixel_holds_the_mirror_depth_and_shows_the_reflection():
    mirror = quad((0, 4.0, 1.0), (0, -1, 0), 1.0, 1.0, Material("solid", (0.9, 0.9, 0.9), surface="mirror"))
    behind_camera = sphere((0, -3.0, 1.0), 0.8, GREEN)  # only visible in the mirror
    lights = [Light((1, 1, 1), position=(0, -1.0, 2.0))]
    result = render(scene_of([mirror, behind_camera], lights=lights))
    assert result.primitive[CENTRE, CENTRE] == 0
    assert result.depth[CENTRE, CENTRE] == pytest.approx(4.0, abs=1e-5)
    r, g, b = result.image[CENTRE, CENTRE].astype(int)
    assert g > r + 40 and g > b + 40  # the green sphere, seen by reflection
    # without the sphere the mirror pixel is not green
    plain = render(scene_of([mirror], lights=lights)).image[CENTRE, CENTRE].astype(int)
    assert plain[1] < g - 40


def test_glass_pixel_holds_the_glass_depth_and_shows_what_is_behind():
    glass = quad((0, 2.0, 1.0), (0, -1, 0), 1.0, 1.0, Material("solid", (0.95, 0.95, 0.95), surface="glass"))
    behind = box((0, 5.0, 1.0), (2, 0.2, 2), RED)
    result = render(scene_of([glass, behind], lights=[Light((1, 1, 1), position=(0, 1.0, 2.5))]))
    assert result.depth[CENTRE, CENTRE] == pytest.approx(2.0, abs=1e-5)
    r, g, _ = result.image[CENTRE, CENTRE].astype(int)
    assert r > g + 40


def test_fence_bars_have_their_depth_and_holes_show_what_is_behind():
    # bars 10 cm wide every 50 cm, starting at the quad's left edge (x = -1 m)
    fence = quad((0, 3.0, 1.0), (0, -1, 0), 1.0, 1.0, GREY, Cutout((0.5, 0.0), (0.1, 0.0)))
    wall = plane((0, 8.0, 0), (0, -1, 0), GREY)
    camera = looking_north(size=101, hfov=40)
    result = render(scene_of([fence, wall], camera))
    row = result.depth[50]
    x = (np.arange(101) - camera.intrinsics.cx) / camera.intrinsics.fx * 3.0  # where each column's ray crosses the fence plane
    on_bar = np.mod(x + 1.0, 0.5) < 0.1
    clear = (np.abs(np.mod(x + 1.0, 0.5) - 0.1) > 0.02) & (np.abs(x) < 0.97)  # away from edges
    np.testing.assert_allclose(row[on_bar & clear], 3.0, rtol=1e-5)
    np.testing.assert_allclose(row[~on_bar & clear], 8.0, rtol=1e-5)
    assert on_bar.sum() > 5 and (~on_bar).sum() > 5


def test_shadowed_pixel_is_darker_and_keeps_exact_depth():
    ground = plane((0, 0, 0), (0, 0, 1), GREY)
    blocker = sphere((0, 0, 1.5), 0.5, GREY)  # the sun straight above: its shadow is a disc at the origin
    camera = Camera.look_at(65, 65, 60, np.array([0.0, -4.0, 1.0]), np.array([0.0, 0.0, 0.0]))
    scene = Scene(camera, [ground, blocker], [Light((1.5, 1.5, 1.5), direction=(0, 0, 1))], np.full(3, 0.2, np.float32))
    result = render(scene)
    shadow, lit = project(camera, (0, 0, 0)), project(camera, (1.5, 0, 0))
    assert result.primitive[shadow] == 0 and result.primitive[lit] == 0  # both see the ground
    assert int(result.image[shadow].sum()) < int(result.image[lit].sum()) - 60
    # z-depth of the ground point at the origin: its distance along the optical axis
    assert result.depth[shadow] == pytest.approx(np.linalg.norm([4.0, 1.0]), rel=1e-3)


def test_render_is_deterministic_and_seeds_differ():
    config = SynthConfig(width=48, height=40)
    a, b = generate_sample(5, 3, config), generate_sample(5, 3, config)
    for name in ("image", "depth", "valid", "intrinsics", "camera_to_world"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes()
    assert generate_sample(6, 3, config).image.tobytes() != a.image.tobytes()
    assert generate_sample(5, 4, config).image.tobytes() != a.image.tobytes()


def test_random_scenes_are_well_formed_and_varied():
    config = SynthConfig(width=40, height=32)
    kinds, tags = set(), set()
    for index in range(12):
        sample = generate_sample(0, index, config)
        assert sample.image.shape == (32, 40, 3) and sample.image.dtype == np.uint8
        assert sample.depth.dtype == np.float32 and sample.valid.dtype == bool
        assert np.isfinite(sample.depth).all()
        assert (sample.depth[sample.valid] > 0).all() and (sample.depth[~sample.valid] == 0).all()
        assert sample.depth.max() <= config.max_depth
        assert sample.intrinsics.shape == (3, 3) and sample.intrinsics[0, 2] == pytest.approx(19.5)
        assert sample.valid.any()
        kinds.add(sample.kind)
        tags.update(sample.tags)
    assert kinds == {"indoor", "outdoor"}
    assert {"photo", "mirror", "glass", "fence"} <= tags


def test_intrinsics_and_pose_back_project_floor_pixels_onto_the_floor():
    """Stored K and camera_to_world agree with the depth: floor pixels land at world height 0."""
    config = SynthConfig(width=48, height=48, indoor_fraction=1.0)
    scene = sample_scene(sample_rng(3, 0), config)
    result = render(scene)
    roles = np.array([p.role for p in scene.primitives] + ["sky"])
    floor = roles[result.primitive] == "floor"
    assert floor.sum() > 20
    rows, cols = np.nonzero(floor)
    k_inv = np.linalg.inv(scene.camera.intrinsics.matrix)
    rays = k_inv @ np.stack([cols, rows, np.ones_like(cols)]).astype(float)
    points = scene.camera.camera_to_world @ np.vstack([rays * result.depth[rows, cols], np.ones(len(rows))])
    np.testing.assert_allclose(points[2], 0.0, atol=1e-3)


def test_outdoor_sky_is_invalid():
    config = SynthConfig(width=32, height=32, indoor_fraction=0.0)
    invalid = [~generate_sample(1, i, config).valid for i in range(4)]
    assert any(mask.any() for mask in invalid)


def test_photo_textures_come_from_files_installed_with_scikit_image():
    names = available_photos()
    assert {"astronaut", "coffee", "chelsea"} <= set(names)
    photo = load_photo("astronaut")
    assert photo.shape == (512, 512, 3) and 0 <= photo.min() and photo.max() <= 0.9


def test_example_scene_renders_with_every_special_surface(monkeypatch):
    """tools/example_scene.py, the scene of assets/example.png, shows every special surface."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "tools"))
    from example_scene import example_scene

    scene = example_scene(64, 48)
    result = render(scene)
    seen = {scene.primitives[k].role for k in np.unique(result.primitive) if k >= 0}
    assert {"mirror", "glass", "fence", "picture", "thin", "floor"} <= seen


@pytest.mark.parametrize(("key", "value"), [("width", 0), ("height", 10_000), ("indoor_fraction", 1.5),
                                            ("max_depth", 1e6)])
def test_bad_config_names_the_key(key, value):
    with pytest.raises(ConfigError, match=key):
        SynthConfig(**{key: value})


def test_random_cameras_never_start_inside_or_against_an_object():
    config = SynthConfig(width=8, height=8)
    for index in range(16):
        scene = sample_scene(sample_rng(7, index), config)
        crowding = [p.role for p in scene.primitives if p.near(scene.camera.position, 0.3)]
        assert crowding == [], f"sample {index} ({scene.kind}): camera inside {crowding}"
    # and the test itself can fail: a box around the camera is detected
    assert box(scene.camera.position, (0.2, 0.2, 0.2), GREY).near(scene.camera.position, 0.0)


def test_culling_never_changes_the_picture():
    """Rays skipped by the screen-rectangle and shadow-bundle culling could not have hit anything."""
    config = SynthConfig(width=48, height=40)
    for index in range(10):
        scene = sample_scene(sample_rng(4, index), config)
        fast, brute = render(scene), render(scene, cull=False)
        np.testing.assert_array_equal(fast.primitive, brute.primitive)
        np.testing.assert_allclose(fast.depth, brute.depth, rtol=1e-6)
        assert np.abs(fast.image.astype(int) - brute.image.astype(int)).max() <= 1
