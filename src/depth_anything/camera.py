"""The camera of a photo: its focal length from EXIF when the photo has a believable one, else the one
the user gave (a field of view or a focal length in pixels), else a 60° field of view with a warning.

EXIF holds the focal length two ways, and Pillow reads both:

- `FocalLengthIn35mmFilm` (phones write it): the focal length that gives the same field of view on a
  36×24 mm frame, whose diagonal is 43.27 mm; so in pixels f = f35 × (image diagonal in pixels) / 43.27.
  The diagonal makes it independent of the aspect ratio and of a crop to another one (Depth Pro reads
  it so).
- `FocalLength` in millimetres with the sensor's pixel density `FocalPlaneXResolution` (pixels per
  `FocalPlaneResolutionUnit`; cameras write it): f = FocalLength × pixels per mm, scaled by the image's
  width over `ExifImageWidth` when the photo was resized after it was taken.

A value that is missing, zero, not a number, or gives a horizontal field of view outside
`BELIEVABLE_FOV_DEG` (a corrupted tag, a "focal length" of 0.1 mm) is not used: the next source is,
with a warning that says why. Every result says where its focal length came from (`CameraChoice.source`,
one of `metadata.FOCAL_SOURCES`) and the outputs record it.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any

from .geometry import DEFAULT_FOV_DEG, Intrinsics

log = logging.getLogger(__name__)

FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)
# a horizontal field of view outside this range (degrees) means a corrupted or nonsensical tag
BELIEVABLE_FOV_DEG = (2.0, 160.0)

_EXIF_IFD = 0x8769
_FOCAL_LENGTH = 0x920A
_FOCAL_35MM = 0xA405
_PLANE_X_RESOLUTION = 0xA20E
_PLANE_RESOLUTION_UNIT = 0xA210
_EXIF_IMAGE_WIDTH = 0xA002
# FocalPlaneResolutionUnit → millimetres per unit (2 = inch, the EXIF default; 3 = cm; 4 = mm; 5 = µm)
_UNIT_MM = {1: 25.4, 2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}


@dataclass(frozen=True)
class ExifFocal:
    """A focal length in pixels read from EXIF, and which tags gave it (for messages and outputs)."""

    focal_px: float
    tags: str


@dataclass(frozen=True)
class CameraChoice:
    """The pinhole camera used for one image and where its focal length came from: `source` is "exif",
    "focal" (--focal), "fov" (--fov) or "default" (60°); `detail` says it for people."""

    intrinsics: Intrinsics
    source: str
    detail: str
    width: int
    height: int

    @property
    def fov_deg(self) -> float:
        """The horizontal field of view in degrees."""
        return fov_from_focal(self.intrinsics.fx, self.width)

    def describe(self) -> str:
        """One line: focal length, field of view and where they came from."""
        return f"focal {self.intrinsics.fx:.1f} px ({self.fov_deg:.1f}° horizontal FOV) from {self.detail}"


def fov_from_focal(focal_px: float, width: int) -> float:
    """The horizontal field of view (degrees) of a focal length in pixels across `width` pixels."""
    return math.degrees(2.0 * math.atan(width / (2.0 * focal_px)))


def _number(value: Any) -> float | None:
    """A finite positive EXIF number (rationals included), else None."""
    if isinstance(value, tuple) and len(value) == 2:  # an unreduced rational from old writers
        value = value[0] / value[1] if value[1] else math.nan
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def read_exif(source: str | os.PathLike | bytes | Any) -> tuple[dict[int, Any], int]:
    """The EXIF sub-IFD tags of an image file (path, bytes or an open PIL image) and the width of the
    stored pixels (before any EXIF rotation); ({}, 0) when there is no EXIF or no readable file."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        if isinstance(source, Image.Image):
            return dict(source.getexif().get_ifd(_EXIF_IFD)), source.size[0]
        handle = io.BytesIO(source) if isinstance(source, bytes) else source
        with Image.open(handle) as pil:
            return dict(pil.getexif().get_ifd(_EXIF_IFD)), pil.size[0]
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        log.debug("no EXIF read from %s: %s", source if not isinstance(source, bytes) else "bytes", exc)
        return {}, 0


def focal_from_exif(
    exif: dict[int, Any], width: int, height: int, stored_width: int = 0
) -> tuple[ExifFocal | None, str]:
    """The focal length in pixels of a `width`×`height` image (as shown, after EXIF rotation) from its
    EXIF sub-IFD tags (`read_exif`), or None and the reason (missing, zero, absurd) for a warning.
    `stored_width` is the width of the stored pixels, to scale a sensor-resolution focal length when the
    photo was resized."""
    reasons = []
    f35 = exif.get(_FOCAL_35MM)
    if f35 is not None:
        value = _number(f35)
        if value is None:
            reasons.append(f"FocalLengthIn35mmFilm is {f35!r}")
        else:
            found = ExifFocal(
                value * math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM,
                f"FocalLengthIn35mmFilm {value:g} mm",
            )
            reason = _believable(found, width)
            if reason is None:
                return found, ""
            reasons.append(reason)
    focal_mm, plane = exif.get(_FOCAL_LENGTH), exif.get(_PLANE_X_RESOLUTION)
    if focal_mm is not None and plane is not None:
        value, density = _number(focal_mm), _number(plane)
        unit = _UNIT_MM.get(int(_number(exif.get(_PLANE_RESOLUTION_UNIT, 2)) or 2))
        if value is None or density is None or unit is None:
            reasons.append(f"FocalLength {focal_mm!r} with FocalPlaneXResolution {plane!r} is not usable")
        else:
            focal_px = value * density / unit
            exif_width = _number(exif.get(_EXIF_IMAGE_WIDTH))
            if exif_width and stored_width:
                focal_px *= stored_width / exif_width
            found = ExifFocal(
                focal_px, f"FocalLength {value:g} mm at {density / unit:g} px/mm (FocalPlaneXResolution)"
            )
            reason = _believable(found, width)
            if reason is None:
                return found, ""
            reasons.append(reason)
    elif focal_mm is not None:
        reasons.append(
            f"FocalLength {_number(focal_mm) or focal_mm!r} mm without FocalLengthIn35mmFilm or the sensor size"
        )
    return None, "; ".join(reasons) or "no focal length in EXIF"


def _believable(found: ExifFocal, width: int) -> str | None:
    """Why `found` is not a believable focal length for an image `width` pixels wide (None if it is)."""
    fov = fov_from_focal(found.focal_px, width)
    low, high = BELIEVABLE_FOV_DEG
    if low <= fov <= high:
        return None
    return f"{found.tags} gives a {fov:.1f}° horizontal field of view, outside {low:g}-{high:g}°"


def choose_camera(
    width: int,
    height: int,
    image_file: str | os.PathLike | bytes | Any | None = None,
    fov_deg: float | None = None,
    focal_px: float | None = None,
    use_exif: bool = True,
    name: str | None = None,
) -> CameraChoice:
    """The camera of a `width`×`height` image: from the EXIF of `image_file` (unless not `use_exif`),
    else `focal_px` or `fov_deg` (the user's), else `DEFAULT_FOV_DEG` with a warning (named `name`)."""
    if fov_deg is not None and focal_px is not None:
        raise ValueError("give fov_deg or focal_px, not both")
    label = name or (str(image_file) if isinstance(image_file, (str, os.PathLike)) else "image")
    why = ""
    if use_exif and image_file is not None:
        exif, stored_width = read_exif(image_file)
        found, why = focal_from_exif(exif, width, height, stored_width)
        if found is not None:
            return CameraChoice(
                Intrinsics.from_focal(width, height, found.focal_px),
                "exif",
                f"EXIF ({found.tags})",
                width,
                height,
            )
        if exif and why != "no focal length in EXIF":
            log.warning("%s: EXIF focal length not used (%s)", label, why)
    if focal_px is not None:
        return CameraChoice(
            Intrinsics.from_focal(width, height, focal_px), "focal", f"--focal {focal_px:g}", width, height
        )
    if fov_deg is not None:
        return CameraChoice(
            Intrinsics.from_fov(width, height, fov_deg), "fov", f"--fov {fov_deg:g}", width, height
        )
    log.warning(
        "%s: no focal length known (%s); assuming a %g° horizontal field of view (give a field of view or a focal length)",
        label,
        why or "no EXIF read",
        DEFAULT_FOV_DEG,
    )
    return CameraChoice(
        Intrinsics.from_fov(width, height, DEFAULT_FOV_DEG),
        "default",
        f"the {DEFAULT_FOV_DEG:g}° default",
        width,
        height,
    )


__all__ = [
    "BELIEVABLE_FOV_DEG",
    "CameraChoice",
    "ExifFocal",
    "choose_camera",
    "focal_from_exif",
    "fov_from_focal",
    "read_exif",
]
