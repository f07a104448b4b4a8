"""Surface patterns for the synthetic renderer: procedural (noise, stripes, checkers, gradients) and
photographic (crops of the sample photos that scikit-image installs on disk).

Patterns are evaluated on surface coordinates in metres, so a texture has the same physical size
at every distance: a cue of depth that real photographs also have.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ...errors import ImageReadError
from ...io import load_image, to_unit_float
from .scene import Material

TEXTURE_KINDS = ("solid", "checker", "stripes", "gradient", "noise", "photo")

# scikit-image sample files that ship inside the wheel (no download). Colour photos are used as
# they are; grey ones (materials such as brick or gravel) are tinted by the material's colour.
# The Middlebury motorcycle (motorcycle_left/right.png) comes with ground-truth disparity: it is the
# project's real-image evaluation and never enters training data, not even as a texture.
_COLOUR_PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg",
                  "hubble_deep_field.jpg", "ihc.png", "color.png")
_GREY_PHOTOS = ("brick.png", "grass.png", "gravel.png", "camera.png", "moon.png", "coins.png", "page.png",
                "text.png")


def _skimage_data_dir() -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent


@functools.lru_cache(maxsize=1)
def available_photos() -> tuple[str, ...]:
    """Names (file stems) of the sample photos present on disk, colour ones first."""
    folder = _skimage_data_dir()
    return tuple(Path(name).stem for name in _COLOUR_PHOTOS + _GREY_PHOTOS if (folder / name).is_file())


def is_grey_photo(name: str) -> bool:
    """True for the grey material photos that are tinted by the material colour."""
    return any(Path(file).stem == name for file in _GREY_PHOTOS)


@functools.lru_cache(maxsize=32)
def load_photo(name: str) -> np.ndarray:
    """A sample photo as linear RGB float32 in [0, 0.9], cached per process (read-only)."""
    matches = [f for f in _COLOUR_PHOTOS + _GREY_PHOTOS if Path(f).stem == name]
    path = _skimage_data_dir() / (matches[0] if matches else name)
    try:
        rgb = load_image(path)
    except ImageReadError as exc:
        raise FileNotFoundError(f"texture photo {name!r}: {exc}") from None
    linear = (np.power(to_unit_float(rgb), 2.2) * 0.9).astype(np.float32)
    linear.setflags(write=False)
    return linear


def value_noise(lattice: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Smooth noise in [0, 1]: random values on an integer lattice (wrapping), smoothly interpolated."""
    size_y, size_x = lattice.shape
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = (x - x0).astype(np.float32)
    fy = (y - y0).astype(np.float32)
    fx = fx * fx * (3 - 2 * fx)
    fy = fy * fy * (3 - 2 * fy)
    ix = x0.astype(np.int64) % size_x
    iy = y0.astype(np.int64) % size_y
    jx = (ix + 1) % size_x
    jy = (iy + 1) % size_y
    top = lattice[iy, ix] * (1 - fx) + lattice[iy, jx] * fx
    bottom = lattice[jy, ix] * (1 - fx) + lattice[jy, jx] * fx
    return top * (1 - fy) + bottom * fy


def fractal_noise(lattice: np.ndarray, x: np.ndarray, y: np.ndarray, octaves: int = 3) -> np.ndarray:
    """Sum of `octaves` noise layers, each twice as fine and half as strong; in [0, 1]."""
    total = np.zeros(np.shape(x), np.float32)
    weight, norm, freq = 1.0, 0.0, 1.0
    for octave in range(octaves):
        # shift each octave so the layers do not line up at the origin
        total += weight * value_noise(lattice, x * freq + 17.3 * octave, y * freq + 5.1 * octave)
        norm += weight
        weight *= 0.5
        freq *= 2.0
    return total / norm


def _mirror_index(coord: np.ndarray, size: int) -> np.ndarray:
    """Integer pixel index into a photo tiled with mirrored copies (no seams)."""
    index = np.floor(coord).astype(np.int64) % (2 * size)
    return np.where(index >= size, 2 * size - 1 - index, index)


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    return a[None, :] * (1 - t[:, None]) + b[None, :] * t[:, None]


def albedo(material: Material, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Linear RGB albedo (n×3 float32) of `material` at surface coordinates `u`, `v` (metres)."""
    u = np.asarray(u, np.float32)
    v = np.asarray(v, np.float32)
    if material.angle:
        c, s = np.float32(np.cos(material.angle)), np.float32(np.sin(material.angle))
        u, v = c * u - s * v, s * u + c * v
    kind = material.kind
    scale = np.float32(material.scale)
    if kind == "solid":
        out = np.broadcast_to(material.color_a, (u.size, 3)).astype(np.float32)
    elif kind == "checker":
        t = ((np.floor(u / scale) + np.floor(v / scale)) % 2).astype(np.float32)
        out = _mix(material.color_a, material.color_b, t)
    elif kind == "stripes":
        t = (np.floor(u / scale) % 2).astype(np.float32)
        out = _mix(material.color_a, material.color_b, t)
    elif kind == "gradient":
        phase = u / scale
        t = np.abs(2 * (phase - np.floor(phase)) - 1).astype(np.float32)  # triangle wave: no seams
        out = _mix(material.color_a, material.color_b, t)
    elif kind == "noise":
        if material.lattice is None:
            raise ValueError("a noise material needs a lattice of random values")
        t = fractal_noise(material.lattice, u / scale, v / scale)
        out = _mix(material.color_a, material.color_b, np.clip((t - 0.5) * 2.2 + 0.5, 0, 1))
    elif kind == "photo":
        if material.photo is None:
            raise ValueError("a photo material needs the name of a photo")
        photo = load_photo(material.photo)
        h, w = photo.shape[:2]
        per_metre = w / scale
        cols = _mirror_index(u * per_metre + material.offset[0] * w, w)
        rows = _mirror_index(-v * per_metre + material.offset[1] * h, h)
        out = photo[rows, cols]
        if is_grey_photo(material.photo):
            out = out * (material.color_a[None, :] * 1.6)
    else:
        raise ValueError(f"unknown texture kind {kind!r}; choose one of {TEXTURE_KINDS}")
    if material.detail > 0 and material.lattice is not None:
        # large-scale dirt/shading variation on top of any pattern
        grain = fractal_noise(material.lattice, u * 1.7 + 3.3, v * 1.7 + 9.1, octaves=2)
        out = out * (1 - material.detail + 2 * material.detail * grain)[:, None]
    return np.clip(out, 0.0, 1.0).astype(np.float32)
