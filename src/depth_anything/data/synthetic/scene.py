"""Scene description for the synthetic renderer: camera, primitives, materials, lights.

Every primitive is a unit shape (sphere, cube, cylinder, square, plane) placed by an affine map
`world = center + rotation @ (scale * local)`, so the renderer needs one intersection routine per
unit shape and rays are mapped to local space with one matrix product. Units are metres; the world
has x east, y north and z up; cameras follow OpenCV (x right, y down, z forward).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...geometry import Intrinsics

# Kinds of unit shapes; "room" is a cube seen from inside (floor, walls and ceiling in one).
SHAPES = ("sphere", "box", "cylinder", "quad", "plane", "room")
# How a surface treats light: "mirror" reflects, "glass" lets most light through. Both keep the
# depth of the surface itself as the label, as in the paper's synthetic data.
SURFACES = ("diffuse", "mirror", "glass")


@dataclass
class Material:
    """Albedo pattern of a surface; see `textures.albedo` for the meaning of each kind.

    Colours are linear RGB in [0, 1]. `scale` is the pattern period in metres (for photos: metres
    per photo width). `lattice` holds the random values of value noise (kind "noise" and `detail`).
    """

    kind: str = "solid"
    color_a: np.ndarray = field(default_factory=lambda: np.array([0.6, 0.6, 0.6], np.float32))
    color_b: np.ndarray = field(default_factory=lambda: np.array([0.2, 0.2, 0.2], np.float32))
    scale: float = 1.0
    angle: float = 0.0
    photo: str | None = None
    offset: tuple[float, float] = (0.0, 0.0)
    lattice: np.ndarray | None = None
    detail: float = 0.0
    surface: str = "diffuse"

    def __post_init__(self) -> None:
        if self.surface not in SURFACES:
            raise ValueError(f"material surface must be one of {SURFACES}, got {self.surface!r}")
        if self.scale <= 0:
            raise ValueError(f"material scale must be positive, got {self.scale}")
        self.color_a = np.asarray(self.color_a, np.float32).reshape(3)
        self.color_b = np.asarray(self.color_b, np.float32).reshape(3)


@dataclass
class Cutout:
    """Holes in a quad that turn it into a fence or grid: bars of width `bar` every `period` metres.

    A ray through a hole passes on, so fine structure gets exact depth on the bars and the depth of
    whatever lies behind in the holes. `period[i] <= 0` means no bars along that axis.
    """

    period: tuple[float, float] = (0.2, 0.2)
    bar: tuple[float, float] = (0.02, 0.02)


@dataclass
class Primitive:
    """One unit shape mapped into the world; `role` tells sampling and tests what it stands for."""

    shape: str
    center: np.ndarray
    rotation: np.ndarray
    scale: np.ndarray
    material: Material = field(default_factory=Material)
    cutout: Cutout | None = None
    role: str = "object"
    casts_shadow: bool = True

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"primitive shape must be one of {SHAPES}, got {self.shape!r}")
        self.center = np.asarray(self.center, np.float64).reshape(3)
        self.rotation = np.asarray(self.rotation, np.float64).reshape(3, 3)
        self.scale = np.asarray(self.scale, np.float64).reshape(3)
        self.center32 = self.center.astype(np.float32)
        if np.any(self.scale <= 0):
            raise ValueError(f"primitive scale must be positive, got {self.scale}")
        if self.cutout is not None and self.shape != "quad":
            raise ValueError("cut-outs (fences, grids) are only defined for quads")
        # world → local: local = inv(R·S) (world − center) = S⁻¹ Rᵀ (world − center)
        self.to_local = (self.rotation / self.scale[None, :]).T.astype(np.float32)
        # normals transform with the inverse transpose of R·S, i.e. R·S⁻¹
        self.normal_to_world = (self.rotation / self.scale[None, :]).astype(np.float32)

    def near(self, point: np.ndarray, margin: float) -> bool:
        """True if `point` lies inside the shape or within about `margin` metres of it (cameras
        must not start inside objects). Planes and rooms never count: cameras live inside rooms."""
        if self.shape in ("plane", "room"):
            return False
        local = self.rotation.T @ (np.asarray(point, np.float64) - self.center)  # metres, shape frame
        half = self.scale.copy()
        if self.shape == "quad":
            half[2] = 0.0
        if self.shape == "sphere":
            return bool(np.linalg.norm(local) <= half.max() + margin)
        if self.shape == "cylinder":
            return bool(np.hypot(local[0], local[1]) <= half[:2].max() + margin and abs(local[2]) <= half[2] + margin)
        return bool(np.all(np.abs(local) <= half + margin))

    @property
    def bounding_radius(self) -> float:
        """Radius of a sphere around `center` holding the shape (inf for planes and rooms)."""
        if self.shape in ("plane", "room"):
            return float("inf")
        if self.shape == "sphere":
            return float(self.scale.max())
        if self.shape == "quad":
            return float(np.hypot(self.scale[0], self.scale[1]))
        if self.shape == "cylinder":
            return float(np.hypot(max(self.scale[0], self.scale[1]), self.scale[2]))
        return float(np.linalg.norm(self.scale))


@dataclass
class Light:
    """A point light (`position`) or a sun (`direction` it shines from, i.e. towards the light)."""

    color: np.ndarray
    position: np.ndarray | None = None
    direction: np.ndarray | None = None
    falloff: float = 4.0  # metres at which a point light has lost half its power

    def __post_init__(self) -> None:
        if (self.position is None) == (self.direction is None):
            raise ValueError("a light needs exactly one of position (point light) or direction (sun)")
        self.color = np.asarray(self.color, np.float32).reshape(3)
        if self.position is not None:
            self.position = np.asarray(self.position, np.float64).reshape(3)
        if self.direction is not None:
            d = np.asarray(self.direction, np.float64).reshape(3)
            self.direction = d / np.linalg.norm(d)


@dataclass
class Camera:
    """A posed pinhole camera for a `width`×`height` image: the package's `Intrinsics` (pixels; pixel
    (row i, column j) is centred at u=j, v=i, as for depth to points) and where it stands and looks."""

    width: int
    height: int
    intrinsics: Intrinsics
    position: np.ndarray
    rotation: np.ndarray  # camera → world; columns are the camera's right, down, forward axes

    def __post_init__(self) -> None:
        self.position = np.asarray(self.position, np.float64).reshape(3)
        self.rotation = np.asarray(self.rotation, np.float64).reshape(3, 3)

    @property
    def camera_to_world(self) -> np.ndarray:
        """4×4 pose: world point = R · camera point + position."""
        pose = np.eye(4)
        pose[:3, :3] = self.rotation
        pose[:3, 3] = self.position
        return pose

    @classmethod
    def from_angles(
        cls, width: int, height: int, hfov_deg: float, position: np.ndarray,
        yaw_deg: float = 0.0, pitch_deg: float = 0.0, roll_deg: float = 0.0,
    ) -> Camera:
        """Camera with horizontal field of view `hfov_deg`; yaw 0 looks north, positive pitch looks up."""
        return cls(width, height, Intrinsics.from_fov(width, height, hfov_deg), np.asarray(position, np.float64),
                   rotation_from_angles(yaw_deg, pitch_deg, roll_deg))

    @classmethod
    def look_at(cls, width: int, height: int, hfov_deg: float, position: np.ndarray, target: np.ndarray) -> Camera:
        """Camera at `position` looking at `target` with no roll."""
        forward = np.asarray(target, np.float64) - np.asarray(position, np.float64)
        yaw = np.degrees(np.arctan2(forward[0], forward[1]))
        pitch = np.degrees(np.arctan2(forward[2], np.hypot(forward[0], forward[1])))
        return cls.from_angles(width, height, hfov_deg, position, yaw, pitch, 0.0)


def rotation_from_angles(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Camera → world rotation for a heading (`yaw`), elevation (`pitch`) and `roll`, in degrees."""
    yaw, pitch, roll = np.radians([yaw_deg, pitch_deg, roll_deg])
    forward = np.array([np.cos(pitch) * np.sin(yaw), np.cos(pitch) * np.cos(yaw), np.sin(pitch)])
    right0 = np.array([np.cos(yaw), -np.sin(yaw), 0.0])
    up0 = np.cross(right0, forward)
    right = np.cos(roll) * right0 + np.sin(roll) * up0
    up = -np.sin(roll) * right0 + np.cos(roll) * up0
    return np.stack([right, -up, forward], axis=1)


def frame_from_axis(axis: np.ndarray, hint: np.ndarray | None = None) -> np.ndarray:
    """Rotation whose third column is `axis` (normalised); the first column lies along `hint` if possible."""
    z = np.asarray(axis, np.float64)
    z = z / np.linalg.norm(z)
    hint = np.array([0.0, 0.0, 1.0]) if hint is None else np.asarray(hint, np.float64)
    if abs(np.dot(hint, z)) > 0.99 * np.linalg.norm(hint):
        hint = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = hint - np.dot(hint, z) * z
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def yaw_rotation(yaw_rad: float) -> np.ndarray:
    """Rotation about the world's vertical axis."""
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# ----------------------------------------------------------------------------------- shape builders
def sphere(center: np.ndarray, radius: float, material: Material, role: str = "object") -> Primitive:
    """A sphere."""
    return Primitive("sphere", center, np.eye(3), np.full(3, radius), material, role=role)


def box(center: np.ndarray, half_size: np.ndarray, material: Material, yaw: float = 0.0, role: str = "object") -> Primitive:
    """A box with half extents `half_size`, turned by `yaw` radians about the vertical."""
    return Primitive("box", center, yaw_rotation(yaw), half_size, material, role=role)


def cylinder(p0: np.ndarray, p1: np.ndarray, radius: float, material: Material, role: str = "object") -> Primitive:
    """A capped cylinder (pole, rod, trunk) from point `p0` to `p1`."""
    p0, p1 = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    axis = p1 - p0
    half = np.linalg.norm(axis) / 2
    return Primitive("cylinder", (p0 + p1) / 2, frame_from_axis(axis), (radius, radius, half), material, role=role)


def quad(
    center: np.ndarray, normal: np.ndarray, half_width: float, half_height: float, material: Material,
    cutout: Cutout | None = None, role: str = "object",
) -> Primitive:
    """A rectangle facing `normal`; its height runs as close to vertical as the normal allows."""
    n = np.asarray(normal, np.float64)
    n = n / np.linalg.norm(n)
    up = np.array([0.0, 0.0, 1.0])
    if abs(n[2]) > 0.99:
        up = np.array([0.0, 1.0, 0.0])
    y = up - np.dot(up, n) * n
    y /= np.linalg.norm(y)
    rotation = np.stack([np.cross(y, n), y, n], axis=1)
    return Primitive("quad", center, rotation, (half_width, half_height, 1.0), material, cutout, role=role)


def plane(point: np.ndarray, normal: np.ndarray, material: Material, role: str = "ground") -> Primitive:
    """An infinite plane (ground to the horizon); texture coordinates are metres along the plane."""
    return Primitive("plane", point, frame_from_axis(normal, np.array([1.0, 0.0, 0.0])), np.ones(3), material,
                     role=role, casts_shadow=False)


def room(center: np.ndarray, half_size: np.ndarray, material: Material) -> Primitive:
    """Floor, walls and ceiling of a box-shaped room seen from inside."""
    return Primitive("room", center, np.eye(3), half_size, material, role="room", casts_shadow=False)


@dataclass
class Scene:
    """Everything the renderer needs for one image.

    Rays that hit nothing, or hit beyond `max_depth` metres, are sky: invalid in the mask.
    `fog_distance` (metres) blends towards `fog_color`; `exposure`, `white_balance` and
    `noise` model the camera. `sky` colours are (horizon, zenith) in linear RGB.
    """

    camera: Camera
    primitives: list[Primitive]
    lights: list[Light]
    ambient: np.ndarray
    kind: str = "custom"
    sky: tuple[np.ndarray, np.ndarray] | None = None
    sky_lattice: np.ndarray | None = None
    fog_distance: float | None = None
    fog_color: np.ndarray | None = None
    exposure: float = 1.0
    white_balance: np.ndarray = field(default_factory=lambda: np.ones(3, np.float32))
    noise: float = 0.0
    noise_seed: int = 0
    max_depth: float = 1000.0
    tags: list[str] = field(default_factory=list)
