"""Image files in and out, and atomic writes: the lowest layer that touches the disk.

Reading: `load_image` takes a path, array or PIL image to RGB (8-bit stays uint8, 16-bit stays
uint16, grey to three channels, EXIF orientation applied) and names the file in every `ImageReadError`;
`list_images` finds the images of a folder in a stable order. Writing: `atomic_write` and its helpers
rename a finished temporary file into place (synced first unless `durable=False`), so no reader ever
sees half a file; `save_image`, `save_npy` and the 16-bit depth PNG pair build on them. Pictures of
depth are `pictures`' business, the output formats of the tools `outputs`'.
"""

from __future__ import annotations

import contextlib
import hashlib
import io as _io
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageReadError

PathLike = str | os.PathLike
ImageSource = PathLike | np.ndarray | Image.Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def is_image_file(path: PathLike) -> bool:
    """True when the file name has one of the image suffixes this package reads."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: PathLike) -> list[Path]:
    """All image files below `folder`, sorted, so that runs are deterministic and resumable."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist or is not a folder")
    return sorted(p for p in root.rglob("*") if p.is_file() and is_image_file(p))


def _to_rgb_array(array: np.ndarray, name: str) -> np.ndarray:
    """Bring a decoded array (gray, gray+alpha, RGB, RGBA; 8/16-bit or float) to H×W×3 RGB."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4) or min(array.shape[:2]) < 1:
        raise ImageReadError(f"{name}: expected an H×W, H×W×3 or H×W×4 image, got shape {array.shape}")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    if array.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        if np.issubdtype(array.dtype, np.integer) and array.max(initial=0) <= 65535 and array.min(initial=0) >= 0:
            array = array.astype(np.uint16)
        else:
            raise ImageReadError(f"{name}: unsupported pixel type {array.dtype}")
    channels = array.shape[2]
    if channels in (2, 4):  # drop alpha: depth is predicted from colour only
        array = array[:, :, : channels - 1]
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array)


def load_image(source: ImageSource, name: str | None = None) -> np.ndarray:
    """Read a path, numpy array (RGB) or PIL image into an H×W×3 RGB array.

    8-bit images stay uint8 and 16-bit images stay uint16 (no precision lost); grayscale is repeated
    to three channels and alpha is dropped. EXIF orientation is applied to files. Missing, truncated
    or non-image files raise `ImageReadError` naming the file.
    """
    if isinstance(source, np.ndarray):
        return _to_rgb_array(source, name or "array input")
    if isinstance(source, Image.Image):
        return _pil_to_rgb(source, name or "PIL input")
    if not isinstance(source, (str, os.PathLike)):
        raise ImageReadError(f"{name or 'input'}: expected a path, numpy array or PIL image, got {type(source).__name__}")
    path = Path(source)
    label = name or str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageReadError(f"{label}: file not found") from None
    except OSError as exc:
        raise ImageReadError(f"{label}: cannot read file ({exc})") from None
    return decode_image_bytes(data, label)


def decode_image_bytes(data: bytes, name: str) -> np.ndarray:
    """Decode encoded image bytes to RGB; see `load_image`."""
    try:
        with Image.open(_io.BytesIO(data)) as pil:
            if _is_whole_plain_jpeg(pil, data):
                decoded = _decode_jpeg(data, pil.mode)
                if decoded is not None:
                    return _to_rgb_array(np.ascontiguousarray(_ORIENT.get(_exif_orientation(pil), _same)(decoded)), name)
            pil.load()  # raises on truncated files
            if _is_16bit_colour(pil, data):
                return _decode_16bit_colour(data, _exif_orientation(pil), name)
            return _pil_to_rgb(ImageOps.exif_transpose(pil), name)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{name}: not a readable image ({exc})") from None
    except Image.DecompressionBombError as exc:  # Pillow's guard against huge images: reported, not a crash
        raise ImageReadError(f"{name}: too many pixels to decode ({exc})") from None


def _same(array: np.ndarray) -> np.ndarray:
    return array


def _is_whole_plain_jpeg(pil: Image.Image, data: bytes) -> bool:
    """A colour or grey JPEG that ends with its end-of-image marker: what OpenCV decodes to the same
    pixels as Pillow (both run libjpeg-turbo's default decoder), faster and without holding the GIL for
    a copy. A file cut short lacks the marker and goes to Pillow, which reports it; so do CMYK files."""
    return pil.format == "JPEG" and pil.mode in ("RGB", "L") and data.endswith(b"\xff\xd9")


def _decode_jpeg(data: bytes, mode: str) -> np.ndarray | None:
    """The pixels of a plain JPEG as stored (orientation not applied), RGB or grey; None if OpenCV fails."""
    if mode == "L":
        flags = cv2.IMREAD_GRAYSCALE
    else:
        flags = getattr(cv2, "IMREAD_COLOR_RGB", cv2.IMREAD_COLOR)  # RGB directly from OpenCV 4.10
    try:
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), flags | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:  # over OpenCV's own size limits ($OPENCV_IO_MAX_IMAGE_PIXELS): Pillow's guard decides
        return None
    if decoded is None:
        return None
    if mode != "L" and not hasattr(cv2, "IMREAD_COLOR_RGB"):
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    return decoded


def _is_16bit_colour(pil: Image.Image, data: bytes) -> bool:
    """Pillow reduces 16-bit colour PNG/TIFF to 8 bits; such files are decoded by OpenCV instead."""
    if pil.mode not in ("RGB", "RGBA"):
        return False
    if pil.format == "PNG":
        return len(data) > 24 and data[24] == 16  # bit depth field of the IHDR chunk
    if pil.format == "TIFF":
        bits = pil.tag_v2.get(258, (8,))
        return max(bits if isinstance(bits, tuple) else (bits,)) == 16
    return False


def _exif_orientation(pil: Image.Image) -> int:
    try:
        return int(pil.getexif().get(0x0112, 1))
    except (ValueError, TypeError):
        return 1


# EXIF orientation → the numpy steps that show the image upright (what ImageOps.exif_transpose does).
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1),  # swapaxes, not transpose(1, 0, 2): grey JPEGs arrive as H×W
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def _decode_16bit_colour(data: bytes, orientation: int, name: str) -> np.ndarray:
    try:
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # over OpenCV's own size limits ($OPENCV_IO_MAX_IMAGE_PIXELS)
        raise ImageReadError(f"{name}: OpenCV could not decode this 16-bit image ({str(exc).strip()})") from None
    if decoded is None or decoded.ndim != 3:
        raise ImageReadError(f"{name}: OpenCV could not decode this 16-bit image")
    rgb = cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGBA if decoded.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return _to_rgb_array(_ORIENT.get(orientation, _same)(rgb), name)


def _pil_to_rgb(pil: Image.Image, name: str) -> np.ndarray:
    if pil.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return _to_rgb_array(np.asarray(pil, dtype=np.uint16), name)
    if pil.mode in ("I", "F"):
        array = np.asarray(pil)
        if pil.mode == "I" and array.min(initial=0) >= 0 and array.max(initial=0) <= 65535:
            return _to_rgb_array(array.astype(np.uint16), name)
        array = array.astype(np.float64)
        span = array.max() - array.min()
        return _to_rgb_array(((array - array.min()) / (span if span > 0 else 1.0)).astype(np.float32), name)
    if pil.mode not in ("RGB", "L"):
        pil = pil.convert("RGBA" if "A" in pil.mode or "transparency" in pil.info else "RGB")
    return _to_rgb_array(np.asarray(pil), name)


def to_unit_float(image: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """Scale an RGB array to floats in [0, 1] according to its bit depth (float64 as the reference
    preprocessing computes; float32 for training, without the float64 copy)."""
    if image.dtype == np.uint8:
        return image.astype(dtype) / dtype(255)
    if image.dtype == np.uint16:
        return image.astype(dtype) / dtype(65535)
    return image.astype(dtype)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """An RGB image of any bit depth (uint8, uint16, float in [0, 1]) as 8 bits for pictures."""
    if image.dtype == np.uint8:
        return image
    return np.round(to_unit_float(image).clip(0.0, 1.0) * 255).astype(np.uint8)


# --------------------------------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def atomic_target(path: PathLike, durable: bool = True) -> Iterator[Path]:
    """A temporary file beside `path` to write into; when the block ends without an error it is renamed
    onto `path` (synced to disk first when `durable`), otherwise removed (for writers that stream, such
    as a video encoder).

    The temporary file lives in the same folder (same filesystem, so the rename is atomic) and keeps
    the final suffix, so writers that pick the format from the suffix still work. Without `durable` a
    reader never sees a half-written file either, but a power cut may leave an empty one: the batch
    writers skip the sync, which costs more than encoding a small picture.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # open(..., "x") rather than mkstemp: the file gets the usual umask permissions, not 0600
    tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:12]}.tmp{target.suffix}")
    tmp.open("xb").close()
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as written:  # on disk before the rename, so a power cut cannot expose an empty file
                os.fsync(written.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: PathLike, write: Callable[[Path], Any], durable: bool = True) -> Path:
    """Call `write(tmp_path)` then rename onto `path`, so a crash never leaves a half-written file."""
    with atomic_target(path, durable) as tmp:
        write(tmp)
    return Path(path)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB pieces (weights digests, label-shard checksums)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for piece in iter(lambda: handle.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def atomic_write_bytes(path: PathLike, data: bytes | memoryview, durable: bool = True) -> Path:
    """Write bytes atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), durable)


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_image(path: PathLike, rgb: np.ndarray) -> Path:
    """Write an RGB (uint8 or uint16) image atomically; the suffix picks the format."""
    rgb = _to_rgb_array(rgb, str(path)) if rgb.ndim == 3 else rgb
    ok, encoded = cv2.imencode(Path(path).suffix or ".png", rgb[..., ::-1] if rgb.ndim == 3 else rgb)
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode an image of shape {rgb.shape} and type {rgb.dtype}")
    return atomic_write_bytes(path, encoded.tobytes())


def save_npy(path: PathLike, array: np.ndarray) -> Path:
    """Write a .npy file atomically."""
    return atomic_write(path, lambda tmp: np.save(tmp, array))


def depth_png16_values(depth: np.ndarray, scale: float) -> np.ndarray:
    """Depth × `scale` rounded to uint16, as the 16-bit depth PNGs store it (0 marks invalid; values
    beyond 65535/scale are clipped)."""
    depth = np.nan_to_num(np.asarray(depth, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(np.round(depth * scale), 0, 65535).astype(np.uint16)


def save_depth_png16(path: PathLike, depth: np.ndarray, scale: float) -> Path:
    """Store depth × `scale` as a 16-bit PNG (see `depth_png16_values`)."""
    return save_image(path, depth_png16_values(depth, scale))


def load_depth_png16(path: PathLike, scale: float) -> np.ndarray:
    """Read a 16-bit depth PNG written with `scale`; returns float32 depth (0 where invalid)."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ImageReadError(f"{path}: not a readable depth PNG")
    if raw.ndim == 3 and all(np.array_equal(raw[..., 0], raw[..., c]) for c in range(1, raw.shape[2])):
        raw = raw[..., 0]  # some exports repeat the depth in every channel
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise ImageReadError(f"{path}: expected a single-channel 16-bit PNG, got {raw.dtype} with shape {raw.shape}")
    return (raw.astype(np.float32) / np.float32(scale)).astype(np.float32)
