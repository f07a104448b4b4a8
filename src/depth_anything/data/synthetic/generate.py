"""Synthetic training data with exact depth: random indoor and outdoor scenes, rendered on the CPU.

Depth Anything V2 trains its teacher on synthetic images only, because their labels are exact even
on thin structures, mirrors and glass. `generate_sample(seed, index, config)` is a pure function of
its arguments: the same (seed, index) gives the same bytes whatever the number of workers or the
order of generation, which is what makes dataset writing resumable.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...errors import ConfigError
from .render import render
from .scene import (
    Camera,
    Cutout,
    Light,
    Material,
    Primitive,
    Scene,
    box,
    cylinder,
    plane,
    quad,
    room,
    sphere,
    yaw_rotation,
)
from .textures import available_photos, is_grey_photo

SCENE_KINDS = ("indoor", "outdoor")


@dataclass
class SynthConfig:
    """What the random scenes look like. Probabilities are per scene (per surface for photos)."""

    width: int = 384
    height: int = 384
    indoor_fraction: float = 0.5
    photo_fraction: float = 0.35
    mirror_probability: float = 0.35
    glass_probability: float = 0.35
    fence_probability: float = 0.5
    fog_probability: float = 0.2
    noise_probability: float = 0.3
    max_depth: float = 1000.0

    def __post_init__(self) -> None:
        for key in ("width", "height"):
            value = getattr(self, key)
            if not isinstance(value, (int, np.integer)) or not 8 <= value <= 8192:
                raise ConfigError(f"SynthConfig.{key} must be an integer between 8 and 8192, got {value!r}")
        for key in ("indoor_fraction", "photo_fraction", "mirror_probability", "glass_probability",
                    "fence_probability", "fog_probability", "noise_probability"):
            value = getattr(self, key)
            if not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"SynthConfig.{key} must lie in [0, 1], got {value!r}")
        if not 1.0 < self.max_depth <= 60000.0:  # depth is stored as float16 (max 65504)
            raise ConfigError(f"SynthConfig.max_depth must lie in (1, 60000] metres, got {self.max_depth!r}")


@dataclass
class SyntheticSample:
    """One generated view: RGB uint8, z-depth float32 metres (0 where invalid), validity, camera."""

    image: np.ndarray
    depth: np.ndarray
    valid: np.ndarray
    intrinsics: np.ndarray
    camera_to_world: np.ndarray
    kind: str
    tags: list[str] = field(default_factory=list)


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The random generator of sample `index` of a dataset with `seed` (independent streams)."""
    if seed < 0 or index < 0:
        raise ConfigError(f"seed and index must be non-negative, got seed={seed}, index={index}")
    return np.random.default_rng([int(seed), int(index)])


def generate_sample(seed: int, index: int, config: SynthConfig | None = None) -> SyntheticSample:
    """Render sample `index` of the dataset with `seed`; a pure function of its arguments."""
    config = config or SynthConfig()
    scene = sample_scene(sample_rng(seed, index), config)
    result = render(scene)
    return SyntheticSample(result.image, result.depth, result.valid, scene.camera.intrinsics.matrix,
                           scene.camera.camera_to_world, scene.kind, list(scene.tags))


def sample_scene(rng: np.random.Generator, config: SynthConfig) -> Scene:
    """A random indoor or outdoor scene."""
    if rng.random() < config.indoor_fraction:
        return _indoor_scene(rng, config)
    return _outdoor_scene(rng, config)


# ------------------------------------------------------------------------------------ materials
def _color(rng: np.random.Generator, sat: tuple[float, float] = (0.1, 0.8), val: tuple[float, float] = (0.25, 0.95),
           hue: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """A random colour, linear RGB."""
    rgb = colorsys.hsv_to_rgb(rng.uniform(*hue) % 1.0, rng.uniform(*sat), rng.uniform(*val))
    return np.power(np.array(rgb, np.float32), 2.2)


def _material(rng: np.random.Generator, config: SynthConfig, scale: tuple[float, float] = (0.05, 1.5),
              photo_scale: tuple[float, float] = (0.6, 4.0), grey_photo: bool | None = None) -> Material:
    """A random diffuse material: a procedural pattern or a photo crop, with optional dirt."""
    lattice = rng.random((32, 32)).astype(np.float32)
    detail = float(rng.uniform(0.0, 0.35)) if rng.random() < 0.6 else 0.0
    photos = available_photos()
    if grey_photo is not None:
        photos = tuple(p for p in photos if is_grey_photo(p) == grey_photo)
    if photos and rng.random() < config.photo_fraction:
        return Material("photo", _color(rng, (0.0, 0.5), (0.4, 0.9)), scale=float(np.exp(rng.uniform(*np.log(photo_scale)))),
                        photo=str(rng.choice(photos)), offset=(float(rng.random()), float(rng.random())),
                        lattice=lattice, detail=detail, angle=float(rng.choice([0.0, rng.uniform(0, np.pi)])))
    kind = str(rng.choice(["solid", "checker", "stripes", "gradient", "noise"], p=[0.2, 0.2, 0.2, 0.15, 0.25]))
    return Material(kind, _color(rng), _color(rng), scale=float(np.exp(rng.uniform(*np.log(scale)))),
                    angle=float(rng.uniform(0, np.pi)) if rng.random() < 0.4 else 0.0, lattice=lattice, detail=detail)


def _special(rng: np.random.Generator, surface: str) -> Material:
    """A mirror (slightly tinted) or a glass pane (light tint)."""
    tint = _color(rng, (0.0, 0.25), (0.75, 0.97))
    return Material("solid", tint, tint, surface=surface)


# ------------------------------------------------------------------------------------ objects
def _table(rng: np.random.Generator, config: SynthConfig, x: float, y: float, yaw: float) -> list[Primitive]:
    top_h = rng.uniform(0.45, 0.95)
    half = np.array([rng.uniform(0.3, 0.8), rng.uniform(0.25, 0.5), rng.uniform(0.015, 0.04)])
    mat, leg_mat = _material(rng, config), _material(rng, config)
    parts = [box([x, y, top_h], half, mat, yaw)]
    rot = yaw_rotation(yaw)
    leg_r = rng.uniform(0.012, 0.04)
    for sx in (-1, 1):
        for sy in (-1, 1):
            corner = rot @ np.array([sx * (half[0] - 2 * leg_r), sy * (half[1] - 2 * leg_r), 0.0])
            foot = np.array([x, y, 0.0]) + corner
            parts.append(cylinder(foot, foot + [0, 0, top_h - half[2]], leg_r, leg_mat, role="thin"))
    if rng.random() < 0.5:  # something on the table
        r = rng.uniform(0.05, 0.15)
        parts.append(sphere([x + rng.uniform(-0.2, 0.2), y, top_h + half[2] + r], r, _material(rng, config)))
    return parts


def _chair(rng: np.random.Generator, config: SynthConfig, x: float, y: float, yaw: float) -> list[Primitive]:
    seat_h, w = rng.uniform(0.4, 0.5), rng.uniform(0.18, 0.25)
    mat = _material(rng, config)
    rot = yaw_rotation(yaw)
    parts = [box([x, y, seat_h], [w, w, 0.02], mat, yaw)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            foot = np.array([x, y, 0.0]) + rot @ np.array([sx * (w - 0.02), sy * (w - 0.02), 0.0])
            parts.append(cylinder(foot, foot + [0, 0, seat_h], 0.015, mat, role="thin"))
    back = np.array([x, y, 0.0]) + rot @ np.array([0.0, w, seat_h + 0.25])
    parts.append(box(back, [w, 0.015, 0.23], mat, yaw))
    return parts


def _lamp(rng: np.random.Generator, config: SynthConfig, x: float, y: float, yaw: float) -> list[Primitive]:
    height = rng.uniform(1.1, 1.8)
    shade_r = rng.uniform(0.12, 0.25)
    return [cylinder([x, y, 0.0], [x, y, height], rng.uniform(0.008, 0.02), _material(rng, config), role="thin"),
            cylinder([x, y, height - 0.05], [x, y, height + shade_r], shade_r, _material(rng, config))]


def _shelf(rng: np.random.Generator, config: SynthConfig, x: float, y: float, yaw: float) -> list[Primitive]:
    """An open shelf: thin boards on four rods, a grid of fine structure."""
    half = np.array([rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.3)])
    height = rng.uniform(0.8, 2.0)
    mat = _material(rng, config)
    rot = yaw_rotation(yaw)
    parts = []
    for level in np.linspace(0.05, height, int(rng.integers(3, 6))):
        parts.append(box([x, y, level], [half[0], half[1], 0.012], mat, yaw))
    for sx in (-1, 1):
        for sy in (-1, 1):
            foot = np.array([x, y, 0.0]) + rot @ np.array([sx * half[0], sy * half[1], 0.0])
            parts.append(cylinder(foot, foot + [0, 0, height], 0.01, mat, role="thin"))
    return parts


def _blob(rng: np.random.Generator, config: SynthConfig, x: float, y: float, yaw: float) -> list[Primitive]:
    """A box, sphere or cylinder standing on the floor."""
    choice = rng.integers(3)
    mat = _material(rng, config)
    if choice == 0:
        half = rng.uniform([0.15, 0.15, 0.1], [0.7, 0.5, 0.9])
        return [box([x, y, half[2]], half, mat, yaw)]
    if choice == 1:
        r = rng.uniform(0.1, 0.5)
        return [sphere([x, y, r], r, mat)]
    r, h = rng.uniform(0.08, 0.4), rng.uniform(0.2, 1.4)
    return [cylinder([x, y, 0.0], [x, y, h], r, mat)]


_FURNITURE: tuple[Callable[..., list[Primitive]], ...] = (_table, _chair, _lamp, _shelf, _blob, _blob)


def _fence(rng: np.random.Generator, center: np.ndarray, normal: np.ndarray, width: float, height: float,
           config: SynthConfig) -> Primitive:
    """A railing (vertical bars) or a wire grid: a quad with holes."""
    if rng.random() < 0.5:
        cut = Cutout((rng.uniform(0.08, 0.3), height / rng.integers(1, 4)), (rng.uniform(0.01, 0.05), 0.04))
    else:
        mesh = rng.uniform(0.04, 0.15)
        cut = Cutout((mesh, mesh), (rng.uniform(0.004, 0.012), rng.uniform(0.004, 0.012)))
    mat = Material("solid", _color(rng, (0, 0.5), (0.05, 0.7)), lattice=rng.random((32, 32)).astype(np.float32),
                   detail=0.2)
    return quad(center, normal, width / 2, height / 2, mat, cut, role="fence")


# ------------------------------------------------------------------------------------ scenes
def _camera_noise(rng: np.random.Generator, scene: Scene, config: SynthConfig) -> None:
    """Exposure, white balance and sensor noise, set on `scene` in place."""
    scene.exposure = float(np.exp(rng.uniform(np.log(0.7), np.log(1.4))))
    scene.white_balance = rng.uniform(0.9, 1.1, 3).astype(np.float32)
    if rng.random() < config.noise_probability:
        scene.noise = float(rng.uniform(0.003, 0.02))
        scene.noise_seed = int(rng.integers(2**31))


def _indoor_scene(rng: np.random.Generator, config: SynthConfig) -> Scene:
    hx, hy, height = rng.uniform(1.8, 4.5), rng.uniform(2.0, 6.0), rng.uniform(2.4, 3.6)
    tags = ["indoor"]
    cam_pos = np.array([rng.uniform(-hx + 0.4, hx - 0.4), rng.uniform(-hy + 0.3, -hy * 0.3), rng.uniform(0.5, min(2.0, height - 0.3))])
    camera_yaw, camera_fov = rng.uniform(-50, 50), rng.uniform(50, 95)
    camera = Camera.from_angles(config.width, config.height, camera_fov, cam_pos,
                                yaw_deg=camera_yaw, pitch_deg=rng.uniform(-35, 10),
                                roll_deg=float(np.clip(rng.normal(0, 4), -10, 10)))
    # walls come from the room; floor and ceiling are separate quads, slightly inside, so that
    # they can have their own materials
    prims = [
        room([0.0, 0.0, height / 2], [hx, hy, height / 2 + 0.01], _material(rng, config, (0.1, 2.0))),
        quad([0.0, 0.0, 0.0], [0, 0, 1], hx, hy, _material(rng, config, (0.1, 1.0), (1.0, 4.0)), role="floor"),
        quad([0.0, 0.0, height], [0, 0, -1], hx, hy, _material(rng, config, (0.3, 2.0)), role="ceiling"),
    ]
    prims[1].casts_shadow = prims[2].casts_shadow = False
    heading, hfov = np.radians(camera_yaw), np.radians(camera_fov)
    for _ in range(int(rng.integers(4, 12))):
        make = _FURNITURE[int(rng.integers(len(_FURNITURE)))]
        for _attempt in range(6):
            # mostly inside the view, sometimes anywhere (seen in mirrors, or at the image edge)
            if rng.random() < 0.8:
                angle = heading + rng.uniform(-0.6, 0.6) * hfov
                dist = rng.uniform(1.3, 2 * max(hx, hy))
                x, y = cam_pos[0] + np.sin(angle) * dist, cam_pos[1] + np.cos(angle) * dist
            else:
                x, y = rng.uniform(-hx, hx), rng.uniform(-hy, hy)
            if abs(x) < hx - 0.6 and abs(y) < hy - 0.6 and np.hypot(x - cam_pos[0], y - cam_pos[1]) > 1.3:
                prims += make(rng, config, x, y, rng.uniform(0, 2 * np.pi))
                break
    if rng.random() < config.fence_probability:
        x = rng.uniform(-hx + 0.8, hx - 0.8)
        y = rng.uniform(cam_pos[1] + 1.5, hy - 0.3) if cam_pos[1] + 1.5 < hy - 0.3 else hy - 0.3
        w, h = rng.uniform(0.8, 2.0), rng.uniform(0.8, 2.2)
        prims.append(_fence(rng, np.array([x, y, h / 2]), np.array([rng.uniform(-0.5, 0.5), -1.0, 0.0]), w, h, config))
        tags.append("fence")
    if rng.random() < config.mirror_probability:  # on the far wall or a side wall
        w, h = rng.uniform(0.4, 1.3), rng.uniform(0.5, 1.1)
        z = rng.uniform(h / 2 + 0.3, height - h / 2 - 0.1)
        if rng.random() < 0.5:
            center, normal = [rng.uniform(-hx + w, hx - w), hy - 0.02, z], [0, -1, 0]
        else:
            side = rng.choice([-1.0, 1.0])
            center, normal = [side * (hx - 0.02), rng.uniform(-hy + w, hy - w), z], [-side, 0, 0]
        prims.append(quad(center, normal, w / 2, h / 2, _special(rng, "mirror"), role="mirror"))
        tags.append("mirror")
    if rng.random() < config.glass_probability:  # a free-standing pane or a glass table top
        w, h = rng.uniform(0.6, 1.6), rng.uniform(0.6, 1.8)
        center = [rng.uniform(-hx + 0.5, hx - 0.5), rng.uniform(cam_pos[1] + 1.0, hy - 0.2), h / 2 + rng.uniform(0, 0.4)]
        prims.append(quad(center, [rng.uniform(-0.6, 0.6), -1.0, 0.0], w / 2, h / 2, _special(rng, "glass"), role="glass"))
        tags.append("glass")
    lights = []
    for _ in range(int(rng.integers(1, 4))):
        pos = [rng.uniform(-hx + 0.3, hx - 0.3), rng.uniform(-hy + 0.3, hy - 0.3), height - rng.uniform(0.2, 0.5)]
        lights.append(Light(_color(rng, (0.0, 0.25), (0.9, 1.0), (0.05, 0.15)) * rng.uniform(0.8, 1.8), position=pos,
                            falloff=rng.uniform(2.5, 6.0)))
    scene = Scene(camera, prims, lights, _color(rng, (0.0, 0.2), (0.5, 0.75)) * 0.4, kind="indoor",
                  max_depth=config.max_depth, tags=tags)
    if any(p.material.kind == "photo" for p in prims):
        tags.append("photo")
    _camera_noise(rng, scene, config)
    return scene


def _outdoor_scene(rng: np.random.Generator, config: SynthConfig) -> Scene:
    tags = ["outdoor"]
    cam_height = float(np.exp(rng.uniform(np.log(1.0), np.log(12.0))))
    yaw = rng.uniform(0, 360)
    hfov = rng.uniform(45, 100)
    camera = Camera.from_angles(config.width, config.height, hfov, [0.0, 0.0, cam_height], yaw_deg=yaw,
                                pitch_deg=rng.uniform(-25, 6) - min(cam_height, 10) * 1.2,
                                roll_deg=float(np.clip(rng.normal(0, 3), -8, 8)))
    ground = plane([0, 0, 0], [0, 0, 1], _material(rng, config, (0.3, 3.0), (2.0, 8.0), grey_photo=True))
    prims: list[Primitive] = [ground]

    def spot(near: float, far: float) -> tuple[np.ndarray, float]:
        """A ground point in front of the camera (within the view, a little beyond its edges)."""
        heading = np.radians(yaw + rng.uniform(-0.6, 0.6) * (hfov + 20))
        dist = float(np.exp(rng.uniform(np.log(near), np.log(far))))
        return np.array([np.sin(heading) * dist, np.cos(heading) * dist, 0.0]), float(heading)

    for _ in range(int(rng.integers(2, 9))):  # buildings
        p, heading = spot(18, 150)
        half = rng.uniform([3, 3, 3], [15, 12, 30])
        prims.append(box(p + [0, 0, half[2]], half, _material(rng, config, (0.5, 4.0), (3.0, 20.0)),
                         heading + rng.uniform(-0.4, 0.4), role="building"))
    for _ in range(int(rng.integers(0, 6))):  # poles and street lamps
        p, _h = spot(4, 50)
        top = rng.uniform(3, 9)
        mat = _material(rng, config)
        prims.append(cylinder(p, p + [0, 0, top], rng.uniform(0.04, 0.15), mat, role="thin"))
        if rng.random() < 0.5:
            arm = rng.uniform(-1, 1, 3) * [1.5, 1.5, 0]
            prims.append(cylinder(p + [0, 0, top - 0.1], p + [0, 0, top - 0.1] + arm, 0.04, mat, role="thin"))
    for _ in range(int(rng.integers(0, 7))):  # trees: trunk and an ellipsoid crown
        p, _h = spot(5, 70)
        trunk = rng.uniform(1.5, 4.0)
        prims.append(cylinder(p, p + [0, 0, trunk], rng.uniform(0.08, 0.35), _material(rng, config, (0.05, 0.4)), role="tree"))
        crown = rng.uniform([1.0, 1.0, 1.2], [3.5, 3.5, 4.5])
        leaves = Material("noise", _color(rng, (0.4, 0.9), (0.15, 0.5), (0.18, 0.4)),
                          _color(rng, (0.4, 0.9), (0.3, 0.7), (0.15, 0.35)), scale=float(rng.uniform(0.1, 0.4)),
                          lattice=rng.random((32, 32)).astype(np.float32))
        prims.append(Primitive("sphere", p + [0, 0, trunk + crown[2] * 0.8], yaw_rotation(rng.uniform(0, 6.3)), crown,
                               leaves, role="tree"))
    for _ in range(int(rng.integers(1, 8))):  # street furniture, cars, rocks
        p, heading = spot(3, 40)
        prims += _blob(rng, config, p[0], p[1], heading)
        if rng.random() < 0.3:
            half = rng.uniform([1.8, 0.8, 0.6], [2.4, 1.0, 0.8])
            prims.append(box(p + [0, 0, half[2] + 0.15], half, _material(rng, config), rng.uniform(0, 6.3), role="car"))
    if rng.random() < config.fence_probability:
        p, heading = spot(3, 25)
        w, h = rng.uniform(4, 20), rng.uniform(0.8, 2.2)
        normal = -np.array([np.sin(heading), np.cos(heading), 0.0]) + [rng.uniform(-0.6, 0.6), rng.uniform(-0.6, 0.6), 0]
        prims.append(_fence(rng, p + [0, 0, h / 2], normal, w, h, config))
        tags.append("fence")
    for surface, probability in (("mirror", config.mirror_probability), ("glass", config.glass_probability)):
        if rng.random() < probability:  # a shop window, a mirror panel, a bus stop
            p, heading = spot(4, 30)
            w, h = rng.uniform(1.0, 5.0), rng.uniform(1.0, 3.0)
            normal = -np.array([np.sin(heading), np.cos(heading), 0.0]) + [rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), 0]
            prims.append(quad(p + [0, 0, h / 2 + rng.uniform(0, 0.5)], normal, w / 2, h / 2, _special(rng, surface), role=surface))
            tags.append(surface)
    # keep everything clear of the camera
    prims = [p for p in prims if not p.near(camera.position, 0.5)]
    elevation, azimuth = np.radians(rng.uniform(12, 70)), rng.uniform(0, 2 * np.pi)
    sun_dir = [np.cos(elevation) * np.sin(azimuth), np.cos(elevation) * np.cos(azimuth), np.sin(elevation)]
    sun = Light(_color(rng, (0.0, 0.3), (0.95, 1.0), (0.05, 0.12)) * rng.uniform(1.2, 2.0), direction=sun_dir)
    zenith = _color(rng, (0.3, 0.7), (0.55, 0.9), (0.55, 0.65))
    horizon = _color(rng, (0.0, 0.3), (0.8, 1.0), (0.05, 0.6))
    scene = Scene(camera, prims, [sun], zenith * 0.45 + 0.05, kind="outdoor", sky=(horizon, zenith),
                  sky_lattice=rng.random((32, 32)).astype(np.float32) if rng.random() < 0.6 else None,
                  max_depth=config.max_depth, tags=tags)
    if rng.random() < config.fog_probability:
        scene.fog_distance = float(np.exp(rng.uniform(np.log(25), np.log(300))))
        scene.fog_color = horizon * 0.9
        tags.append("fog")
    if any(p.material.kind == "photo" for p in prims):
        tags.append("photo")
    _camera_noise(rng, scene, config)
    return scene
