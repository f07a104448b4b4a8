"""`load_image`: grayscale becomes three equal channels with the right values, and every EXIF
orientation (1..8) gives exactly the upright image (an asymmetric picture, so a rotation the wrong
way or a missing flip cannot pass)."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from depth_anything.io import _is_whole_plain_jpeg, load_image


# ---------------------------------------------------------------------------------------- grayscale
def _gray8() -> np.ndarray:
    return (np.arange(5 * 7, dtype=np.uint16).reshape(5, 7) * 7 + 3).astype(np.uint8)


def _gray16() -> np.ndarray:
    return (np.arange(5 * 7, dtype=np.uint32).reshape(5, 7) * 1871 + 40).astype(np.uint16)


def _assert_three_equal_channels(out: np.ndarray, gray: np.ndarray) -> None:
    assert out.shape == (*gray.shape, 3)
    assert out.dtype == gray.dtype
    for channel in range(3):
        np.testing.assert_array_equal(out[..., channel], gray, err_msg=f"channel {channel}")


def test_gray_numpy_arrays_become_three_equal_channels():
    _assert_three_equal_channels(load_image(_gray8()), _gray8())
    _assert_three_equal_channels(load_image(_gray16()), _gray16())
    _assert_three_equal_channels(load_image(_gray8()[:, :, None]), _gray8())  # H×W×1


def test_gray_pil_images_become_three_equal_channels():
    _assert_three_equal_channels(load_image(Image.fromarray(_gray8(), mode="L")), _gray8())
    pil16 = Image.fromarray(_gray16())
    assert pil16.mode.startswith("I;16")
    _assert_three_equal_channels(load_image(pil16), _gray16())
    pil_i16 = Image.new("I;16", (7, 5))
    pil_i16.frombytes(_gray16().astype("<u2").tobytes())
    assert pil_i16.mode == "I;16"
    _assert_three_equal_channels(load_image(pil_i16), _gray16())


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_gray_files_become_three_equal_channels(tmp_path, suffix):
    Image.fromarray(_gray8(), mode="L").save(tmp_path / f"g8{suffix}")
    _assert_three_equal_channels(load_image(tmp_path / f"g8{suffix}"), _gray8())
    Image.fromarray(_gray16()).save(tmp_path / f"g16{suffix}")
    _assert_three_equal_channels(load_image(tmp_path / f"g16{suffix}"), _gray16())


# ------------------------------------------------------------------------------------- orientation
H, W = 16, 24  # non-square, so a rotation changes the shape as well


def upright_image(dtype=np.uint8) -> np.ndarray:
    """Four quadrants of distinct colours (what the viewer must see)."""
    image = np.zeros((H, W, 3), np.uint8)
    image[: H // 2, : W // 2] = (230, 20, 20)  # top left: red
    image[: H // 2, W // 2 :] = (20, 230, 20)  # top right: green
    image[H // 2 :, : W // 2] = (20, 20, 230)  # bottom left: blue
    image[H // 2 :, W // 2 :] = (230, 230, 20)  # bottom right: yellow
    return image if dtype == np.uint8 else image.astype(np.uint16) * 257


def stored_for(upright: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels a camera stores so that displaying them with `orientation` shows `upright`
    (the inverse of the EXIF display transform, written out for each case)."""
    return {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],  # displayed mirrored left-right
        3: lambda a: a[::-1, ::-1],  # displayed rotated 180°
        4: lambda a: a[::-1],  # displayed mirrored top-bottom
        5: lambda a: a.transpose(1, 0, 2),  # displayed transposed
        6: lambda a: np.rot90(a, 1),  # displayed rotated 90° clockwise: store it 90° counter-clockwise
        7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],  # displayed transversed (transpose about the anti-diagonal)
        8: lambda a: np.rot90(a, -1),  # displayed rotated 90° counter-clockwise: store it clockwise
    }[orientation](upright).copy()


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_png_gives_the_upright_image(tmp_path, orientation):
    upright = upright_image()
    path = tmp_path / "photo.png"
    Image.fromarray(stored_for(upright, orientation)).save(path, exif=_exif(orientation))
    with Image.open(path) as pil:  # our expectation agrees with Pillow's reading of the tag
        np.testing.assert_array_equal(np.asarray(ImageOps.exif_transpose(pil).convert("RGB")), upright)
    out = load_image(path)
    assert out.shape == (H, W, 3)
    np.testing.assert_array_equal(out, upright)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_jpeg_gives_the_upright_image(tmp_path, orientation):
    upright = upright_image()
    path = tmp_path / "photo.jpg"
    Image.fromarray(stored_for(upright, orientation)).save(path, exif=_exif(orientation), quality=95, subsampling=0)
    out = load_image(path)
    assert out.shape == (H, W, 3)
    # JPEG is lossy: compare the centre of each quadrant
    for rows in (slice(2, H // 2 - 2), slice(H // 2 + 2, H - 2)):
        for cols in (slice(2, W // 2 - 2), slice(W // 2 + 2, W - 2)):
            diff = np.abs(out[rows, cols].astype(int) - upright[rows, cols].astype(int)).max()
            assert diff < 40, f"orientation {orientation}: quadrant {rows}, {cols} off by {diff}"


def _png_with_exif(rgb16: np.ndarray, orientation: int) -> bytes:
    """A 16-bit RGB PNG (OpenCV) with an eXIf chunk carrying `orientation`, spliced after IHDR."""
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb16[..., ::-1]))
    assert ok
    data = encoded.tobytes()
    exif_bytes = _exif(orientation).tobytes()
    chunk = struct.pack(">I", len(exif_bytes)) + b"eXIf" + exif_bytes
    chunk += struct.pack(">I", zlib.crc32(b"eXIf" + exif_bytes) & 0xFFFFFFFF)
    ihdr_end = 8 + 4 + 4 + 13 + 4
    return data[:ihdr_end] + chunk + data[ihdr_end:]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_16bit_png_gives_the_upright_image(tmp_path, orientation):
    upright = upright_image(np.uint16)
    path = tmp_path / "photo16.png"
    path.write_bytes(_png_with_exif(stored_for(upright, orientation), orientation))
    out = load_image(path)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, upright)


@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_orientation_gray_png_gives_the_upright_image(tmp_path, orientation):
    upright = (np.arange(H * W).reshape(H, W) % 251).astype(np.uint8)  # every pixel distinct
    path = tmp_path / "gray.png"
    Image.fromarray(stored_for(upright[..., None], orientation)[..., 0], mode="L").save(path, exif=_exif(orientation))
    _assert_three_equal_channels(load_image(path), upright)


# ------------------------------------------------------------------------- JPEG through OpenCV
def _pillow_reference(path) -> np.ndarray:
    """What Pillow alone decodes (EXIF orientation applied), the reference of OpenCV's JPEG path."""
    with Image.open(path) as pil:
        array = np.asarray(ImageOps.exif_transpose(pil))
    return np.repeat(array[:, :, None], 3, axis=2) if array.ndim == 2 else array


@pytest.mark.parametrize(
    ("mode", "options"),
    [("RGB", {"subsampling": 2}), ("RGB", {"subsampling": 1}), ("RGB", {"subsampling": 0}),
     ("RGB", {"progressive": True}), ("RGB", {"subsampling": 2, "exif": 6}), ("RGB", {"subsampling": 0, "exif": 7}),
     ("L", {}), ("L", {"exif": 8})],
    ids=["420", "422", "444", "progressive", "420-exif6", "444-exif7", "grey", "grey-exif8"],
)
def test_plain_jpegs_decode_to_the_same_pixels_as_pillow(tmp_path, mode, options):
    """`load_image` decodes whole colour and grey JPEGs with OpenCV: pixel for pixel what Pillow gives,
    for every chroma subsampling, progressive files, odd sizes and EXIF orientations."""
    rng = np.random.default_rng(3)
    smooth = cv2.GaussianBlur(rng.integers(0, 256, (61, 83, 3), dtype=np.uint8), (7, 7), 2)
    picture = Image.fromarray(smooth).convert(mode)
    options = dict(options)
    if "exif" in options:
        options["exif"] = _exif(options["exif"])
    path = tmp_path / "photo.jpg"
    picture.save(path, quality=88, **options)
    assert path.read_bytes().endswith(b"\xff\xd9")  # the fast path's condition holds for these files
    out = load_image(path)
    np.testing.assert_array_equal(out, _pillow_reference(path))
    assert out.flags.c_contiguous


def test_jpeg_cut_short_or_cmyk_still_goes_through_pillow(tmp_path):
    """A JPEG cut short lacks its end marker: it is refused naming the file, as Pillow refuses it (OpenCV
    alone would fill the rest grey); a CMYK JPEG decodes as Pillow converts it."""
    from depth_anything.errors import ImageReadError

    rng = np.random.default_rng(4)
    path = tmp_path / "photo.jpg"
    Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)).save(path, quality=90)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(path.read_bytes()[: len(path.read_bytes()) * 2 // 3])
    with pytest.raises(ImageReadError, match="cut.jpg"):
        load_image(cut)
    with Image.open(cut) as pil:  # some OpenCV builds decode a cut JPEG with a warning: it never gets there
        assert not _is_whole_plain_jpeg(pil, cut.read_bytes())
    cmyk = tmp_path / "cmyk.jpg"
    Image.fromarray(rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)).convert("CMYK").save(cmyk, quality=90)
    with Image.open(cmyk) as pil:
        expected = np.asarray(pil.convert("RGB"))
    np.testing.assert_array_equal(load_image(cmyk), expected)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_grey_jpeg_every_exif_orientation_decodes_as_pillow(tmp_path, orientation):
    """A grey JPEG decodes to a 2-D array on OpenCV's path: every orientation, the transposing ones (5, 7)
    included, gives Pillow's upright pixels rather than an error."""
    rng = np.random.default_rng(orientation)
    grey = cv2.GaussianBlur(rng.integers(0, 256, (37, 52), dtype=np.uint8), (5, 5), 1.5)
    path = tmp_path / "grey.jpg"
    Image.fromarray(grey, mode="L").save(path, quality=90, exif=_exif(orientation))
    out = load_image(path)
    np.testing.assert_array_equal(out, _pillow_reference(path))
    assert out.shape[:2] == ((52, 37) if orientation >= 5 else (37, 52))


def test_jpeg_over_opencvs_pixel_limit_decodes_as_pillow_did(tmp_path):
    """OpenCV refuses images over its own limit ($OPENCV_IO_MAX_IMAGE_PIXELS, 2**30 by default: met only
    when Pillow's guard is raised or off) by raising cv2.error; such a JPEG decodes through Pillow as
    before, and a 16-bit PNG over the limit is refused with ImageReadError naming the file."""
    import os
    import subprocess
    import sys

    rng = np.random.default_rng(5)
    jpeg = tmp_path / "photo.jpg"
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(jpeg, quality=90)
    png16 = tmp_path / "deep.png"
    cv2.imwrite(str(png16), rng.integers(0, 65536, (40, 50, 3), dtype=np.uint16))
    np.save(tmp_path / "expected.npy", _pillow_reference(jpeg))
    script = (
        "import sys, numpy as np\n"
        "from depth_anything.errors import ImageReadError\n"
        "from depth_anything.io import load_image\n"
        "np.testing.assert_array_equal(load_image(sys.argv[1]), np.load(sys.argv[3]))\n"
        "try:\n"
        "    load_image(sys.argv[2])\n"
        "except ImageReadError as exc:\n"
        "    assert 'deep.png' in str(exc), exc\n"
        "else:\n"
        "    raise AssertionError('a 16-bit PNG over OpenCV limit was decoded')\n"
    )
    # OpenCV reads its limit when it loads: a fresh process
    env = {**os.environ, "OPENCV_IO_MAX_IMAGE_PIXELS": "1000"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(jpeg), str(png16), str(tmp_path / "expected.npy")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_pillows_pixel_guard_still_refuses_jpegs(tmp_path, monkeypatch):
    """Pillow's decompression-bomb guard (Image.MAX_IMAGE_PIXELS, checked when the header is read) still
    refuses a whole plain JPEG that OpenCV's path would decode, naming the file."""
    from depth_anything.errors import ImageReadError

    path = tmp_path / "huge.jpg"
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(path, quality=90)
    with Image.open(path) as pil:
        assert _is_whole_plain_jpeg(pil, path.read_bytes())
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 40×60 is more than twice this: Pillow refuses it
    with pytest.raises(ImageReadError, match="huge.jpg: too many pixels to decode"):
        load_image(path)
