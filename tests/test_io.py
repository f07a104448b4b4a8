"""Image reading (formats, bit depths, EXIF, bad files) and atomic writing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from depth_anything.errors import ImageReadError
from depth_anything.io import (
    atomic_write,
    load_depth_png16,
    load_image,
    save_depth_png16,
    save_image,
)
from depth_anything.pictures import colorize_depth


def test_reads_8_and_16_bit_gray_rgba(tmp_path):
    rgb16 = (np.arange(4 * 5 * 3, dtype=np.uint16).reshape(4, 5, 3) * 1000)
    cv2.imwrite(str(tmp_path / "rgb16.png"), rgb16[..., ::-1])
    loaded = load_image(tmp_path / "rgb16.png")
    assert loaded.dtype == np.uint16
    np.testing.assert_array_equal(loaded, rgb16)

    gray16 = np.full((3, 4), 40000, np.uint16)
    Image.fromarray(gray16).save(tmp_path / "gray16.png")
    assert load_image(tmp_path / "gray16.png").shape == (3, 4, 3)
    assert load_image(tmp_path / "gray16.png").max() == 40000

    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 0] = 200
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    out = load_image(tmp_path / "rgba.png")
    assert out.shape == (3, 4, 3) and out[0, 0, 0] == 200

    assert load_image(np.zeros((3, 4), np.uint8)).shape == (3, 4, 3)
    assert load_image(Image.new("L", (4, 3))).shape == (3, 4, 3)
    assert load_image(np.zeros((3, 4, 4), np.uint8)).shape == (3, 4, 3)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (6, 2), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert load_image(tmp_path / "rotated.jpg").shape == (6, 2, 3)


def test_bad_files_name_the_file(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    for path in (truncated, text, tmp_path / "missing.png"):
        with pytest.raises(ImageReadError, match=path.name):
            load_image(path)
    with pytest.raises(ImageReadError, match="shape"):
        load_image(np.zeros((2, 3, 5), np.uint8))


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out" / "depth.npy"
    target.parent.mkdir()
    target.write_bytes(b"old")

    def failing(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, failing)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["depth.npy"]


def test_depth_png16_round_trip_and_colour(tmp_path):
    depth = np.array([[0.0, 1.234], [65.535, np.nan]], np.float32)
    save_depth_png16(tmp_path / "d.png", depth, scale=1000.0)
    back = load_depth_png16(tmp_path / "d.png", scale=1000.0)
    np.testing.assert_allclose(back, [[0, 1.234], [65.535, 0]], atol=1e-3)
    grey3 = np.repeat(np.array([[1000, 2000]], np.uint16)[..., None], 3, axis=2)
    cv2.imwrite(str(tmp_path / "three.png"), grey3)
    np.testing.assert_allclose(load_depth_png16(tmp_path / "three.png", scale=1000.0), [[1.0, 2.0]])
    grey3[0, 0, 1] = 7
    cv2.imwrite(str(tmp_path / "colour.png"), grey3)
    with pytest.raises(ImageReadError, match="colour.png"):
        load_depth_png16(tmp_path / "colour.png", scale=1000.0)
    picture = colorize_depth(np.array([[0.0, 1.0], [2.0, np.inf]]))
    assert picture.shape == (2, 2, 3) and picture.dtype == np.uint8
    assert (picture[1, 1] == 0).all() and not (picture[0, 0] == picture[1, 0]).all()
    save_image(tmp_path / "c.png", picture)
    np.testing.assert_array_equal(load_image(tmp_path / "c.png"), picture)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16bit_colour_follows_exif_orientation_like_pillow(tmp_path, orientation):
    rgb16 = (np.arange(3 * 5 * 3, dtype=np.uint16).reshape(3, 5, 3) * 1111)
    eight = (rgb16 // 257).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(eight).save(tmp_path / "eight.png", exif=exif)
    expected_8bit = load_image(tmp_path / "eight.png")  # Pillow's exif_transpose
    ok, encoded = cv2.imencode(".png", rgb16[..., ::-1])
    assert ok
    # splice the same eXIf chunk into the 16-bit PNG so both files carry the orientation
    exif_bytes = exif.tobytes()
    import struct
    import zlib

    chunk = struct.pack(">I", len(exif_bytes)) + b"eXIf" + exif_bytes
    chunk += struct.pack(">I", zlib.crc32(b"eXIf" + exif_bytes) & 0xFFFFFFFF)
    data = encoded.tobytes()
    ihdr_end = 8 + 8 + 13 + 4
    (tmp_path / "sixteen.png").write_bytes(data[:ihdr_end] + chunk + data[ihdr_end:])
    loaded = load_image(tmp_path / "sixteen.png")
    assert loaded.dtype == np.uint16
    np.testing.assert_array_equal((loaded // 257).astype(np.uint8), expected_8bit)


def test_colorize_depth_is_the_colour_table_at_the_rounded_levels():
    """Every pixel is the matplotlib table's entry at round(255 · normalised value), invalid pixels black,
    for each colour map, with and without inversion and a validity mask."""
    from depth_anything.pictures import colormap_lut

    rng = np.random.default_rng(1)
    for shape in [(48, 64), (1, 1), (3, 5), (7, 1)]:
        for cmap in ["Spectral_r", "gray", "turbo"]:
            depth = (rng.random(shape) * 5).astype(np.float32)
            depth.flat[0] = np.nan
            valid = rng.random(shape) > 0.2
            finite = np.isfinite(depth) & valid
            for invert in (False, True):
                unit = np.zeros(shape)
                if finite.any():
                    low, high = depth[finite].min(), depth[finite].max()
                    unit[finite] = (depth[finite].astype(np.float64) - low) / max(high - low, 1e-300)
                levels = np.rint((1 - unit if invert else unit) * 255).astype(np.uint8)
                expected = colormap_lut(cmap)[levels]
                expected[~finite] = 0
                np.testing.assert_array_equal(colorize_depth(depth, cmap, valid=valid, invert=invert), expected)


def test_colorize_depth_without_invalid_pixels_matches_the_masked_rule():
    """Maps with every pixel finite and no mask take a path without masks: the same levels, pixel for
    pixel, as the rule above, for float32 and float64 maps over tiny and huge ranges and a flat map."""
    from depth_anything.pictures import colormap_lut, normalize_depth

    rng = np.random.default_rng(2)
    for i in range(60):
        dtype = np.float32 if i % 2 else np.float64
        spread, base = 10.0 ** rng.uniform(-6, 4), rng.uniform(-5, 1e3)
        depth = (rng.standard_normal((31, 45)) * spread + base).astype(dtype)
        if i == 0:
            depth[:] = 2.5  # flat: every level 0
        low, high = float(depth.min()), float(depth.max())
        unit = (depth.astype(np.float64) - low) / max(high - low, 1e-300)
        np.testing.assert_array_equal(normalize_depth(depth), unit)
        levels = np.rint(unit * 255).astype(np.uint8)
        np.testing.assert_array_equal(colorize_depth(depth, "Spectral_r"), colormap_lut("Spectral_r")[levels])
