"""The one writer of output files: PNGs that other readers decode to exactly the values written, 16-bit
depth PNGs with the values every version wrote, atomic files, a disk sync only when asked, every format
of `DepthWriter`, and the web demo writing through it."""

from __future__ import annotations

import io
import os

import cv2
import numpy as np
import pytest
from PIL import Image

import depth_anything.io as io_module
from depth_anything.errors import ConfigError
from depth_anything.outputs import (
    OUTPUT_SUFFIXES,
    DepthWriter,
    PointCloudOptions,
    encode_png,
    parse_formats,
    png16_values,
    write_png,
)
from depth_anything.pictures import depth_picture, side_by_side


def _decode_both(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The pixels as Pillow and as OpenCV (libpng, which checks every CRC) read them, both in RGB order."""
    with Image.open(io.BytesIO(data)) as pil:
        pil.load()
        pillow = np.asarray(pil)
    opencv = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert opencv is not None, "OpenCV could not decode the PNG"
    if opencv.ndim == 3:
        opencv = cv2.cvtColor(opencv, cv2.COLOR_BGRA2RGBA if opencv.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return pillow, opencv


def _depth(height: int = 37, width: int = 53, seed: int = 0) -> np.ndarray:
    """A smooth map with a ramp, a bump and noise: values that every PNG filter byte path sees."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    return (1.0 + rows / height + np.exp(-((cols - width / 2) ** 2) / 50) + rng.normal(0, 0.01, (height, width))).astype(
        np.float32)


@pytest.fixture(params=["isal", "zlib"])
def deflater(request, monkeypatch):
    """Both deflaters of level 1: ISA-L (when installed) and zlib (its fallback)."""
    import depth_anything.outputs as outputs_module

    if request.param == "isal":
        if outputs_module._fast_deflate is None:
            pytest.skip("isal is not installed")
    else:
        monkeypatch.setattr(outputs_module, "_fast_deflate", None)
    return request.param


@pytest.mark.parametrize("compression", [0, 1, 9])
@pytest.mark.parametrize("shape, dtype", [
    ((5, 7), np.uint8), ((6, 9, 3), np.uint8), ((4, 3, 4), np.uint8), ((2, 5, 2), np.uint8),
    ((33, 17), np.uint16), ((8, 11, 3), np.uint16), ((1, 1), np.uint16),
])
def test_png_decodes_to_exactly_the_array_in_pillow_and_opencv(shape, dtype, compression, deflater):
    rng = np.random.default_rng(3)
    high = np.iinfo(dtype).max
    array = rng.integers(0, high, shape, dtype=dtype, endpoint=True)
    array.flat[0], array.flat[-1] = 0, high  # both ends of the range
    pillow, opencv = _decode_both(encode_png(array, compression))
    if array.ndim == 3 and array.shape[2] == 2:  # OpenCV gives grey + alpha as RGBA
        np.testing.assert_array_equal(opencv, array[:, :, [0, 0, 0, 1]])
    else:
        np.testing.assert_array_equal(opencv.reshape(array.shape), array)
    if array.ndim == 2 or dtype == np.uint8:  # Pillow keeps 8-bit images and 16-bit grey exactly
        np.testing.assert_array_equal(pillow.reshape(array.shape).astype(dtype), array)


def test_png_refuses_what_it_cannot_hold():
    with pytest.raises(TypeError, match="uint8 or uint16"):
        encode_png(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="shape"):
        encode_png(np.zeros((0, 3), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        encode_png(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(ValueError, match="zlib level"):
        encode_png(np.zeros((2, 2), np.uint8), compression=10)


def test_compressed_pictures_are_smaller_and_identical_in_pixels(deflater):
    picture = side_by_side(np.full((40, 60, 3), 128, np.uint8), depth_picture(_depth(40, 60), "Spectral_r"))
    stored, deflated = encode_png(picture, 0), encode_png(picture, 1)
    assert len(deflated) < len(stored) / 2
    np.testing.assert_array_equal(_decode_both(stored)[1], _decode_both(deflated)[1])


@pytest.mark.parametrize("metric", [False, True])
def test_png16_holds_the_values_every_version_wrote(tmp_path, metric):
    depth = _depth() * (3.0 if metric else 1.0)
    depth[0, 0], depth[1, 1] = np.nan, np.inf  # invalid pixels
    if metric:  # millimetres, 0 where invalid, clipped at 65.535 m
        depth[2, 2] = 70.0
        expected = np.clip(np.round(np.nan_to_num(depth.astype(np.float64), posinf=0.0) * 1000.0), 0, 65535)
    else:  # min-max over the finite pixels to 0..65535
        finite = np.isfinite(depth)
        low, high = float(depth[finite].min()), float(depth[finite].max())
        expected = np.round(np.nan_to_num((depth.astype(np.float64) - low) * (65535.0 / (high - low)), posinf=0.0))
        expected = np.clip(expected, 0, 65535)
    expected = expected.astype(np.uint16)
    np.testing.assert_array_equal(png16_values(depth, metric), expected)
    if metric:
        assert expected[2, 2] == 65535 and expected[0, 0] == 0
    else:
        assert expected.max() == 65535 and expected[np.isfinite(depth)].min() == 0
    paths = DepthWriter(tmp_path, ["png16"], metric).write("d", None, depth)
    data = paths["png16"].read_bytes()
    pillow, opencv = _decode_both(data)
    np.testing.assert_array_equal(opencv, expected)
    np.testing.assert_array_equal(pillow, expected)
    np.testing.assert_array_equal(io_module.load_depth_png16(paths["png16"], 1.0), expected.astype(np.float32))
    with Image.open(paths["png16"]) as pil:  # each file says what it holds
        assert ("millimetres" if metric else "min-max scaled") in pil.info["Description"]


def test_every_format_is_written_where_its_suffix_says(tmp_path):
    image = np.random.default_rng(1).integers(0, 255, (37, 53, 3), dtype=np.uint8)
    depth = _depth()
    writer = DepthWriter(tmp_path, list(OUTPUT_SUFFIXES), metric=True, cmap="viridis",
                         points=PointCloudOptions(fov_deg=70.0, stride=2, edge_threshold=None))
    written = writer.write("sub/a", image, depth, confidence=np.full(depth.shape, 0.5))
    assert {fmt: path.name for fmt, path in written.items()} == {fmt: "a" + s for fmt, s in OUTPUT_SUFFIXES.items()}
    assert writer.exists("sub/a") and not writer.exists("sub/b")
    color = _decode_both(written["color"].read_bytes())[0]
    np.testing.assert_array_equal(color, depth_picture(depth, "viridis", invert=True))
    np.testing.assert_array_equal(_decode_both(written["side"].read_bytes())[0], side_by_side(image, color))
    assert _decode_both(written["gray"].read_bytes())[0].shape == (37, 53, 3)
    np.testing.assert_array_equal(np.load(written["npy"]), depth)
    plyfile = pytest.importorskip("plyfile")
    vertices = plyfile.PlyData.read(str(written["ply"]))["vertex"]
    assert len(vertices) == 19 * 27  # every second pixel in each direction
    sidecars = [f"{path.name}.json" for path in written.values() if path.suffix == ".npy"]  # what an .npy holds
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == sorted([p.name for p in written.values()] + sidecars)


def test_a_sync_per_file_only_when_durable(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(io_module.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    depth = _depth()
    DepthWriter(tmp_path / "fast", ["color", "png16", "npy"], metric=False).write("a", None, depth)
    assert synced == []
    DepthWriter(tmp_path / "safe", ["color", "png16", "npy"], metric=False, durable=True).write("a", None, depth)
    assert len(synced) == 4  # and the .npy's sidecar


def test_a_failed_write_leaves_no_file_and_no_temporary(tmp_path, monkeypatch):
    def broken_save(file, array):
        with open(file, "wb") as handle:
            handle.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr("depth_anything.outputs.np.save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        DepthWriter(tmp_path, ["npy"], metric=False).write("a", None, _depth())
    assert list(tmp_path.iterdir()) == []
    write_png(tmp_path / "p.png", np.zeros((2, 2), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]  # the temporary file was renamed, not left beside


def test_bad_settings_are_refused_in_parameter_words(tmp_path):
    with pytest.raises(ConfigError, match=r"^formats= lists \['jpeg'\]; choose from color, gray"):
        parse_formats("color, jpeg")
    with pytest.raises(ConfigError, match=r"formats= lists \['ply'\]"):
        parse_formats("ply")  # predict's list: a point cloud needs a camera and metric depth
    assert parse_formats("npy, color,npy") == ["npy", "color"]
    with pytest.raises(ConfigError, match="^cmap=nope: unknown colour map"):
        DepthWriter(tmp_path, ["color"], metric=False, cmap="nope")
    with pytest.raises(ConfigError, match="needs metric depth"):
        DepthWriter(tmp_path, ["ply"], metric=False)
    with pytest.raises(ConfigError, match="fov_deg= or focal_px="):
        PointCloudOptions(fov_deg=60.0, focal_px=500.0)
    with pytest.raises(ValueError, match="needs the input image"):
        DepthWriter(tmp_path, ["side"], metric=False).write("a", None, _depth())


def test_the_web_demo_writes_through_the_writer(tmp_path, monkeypatch):
    """The demo's two downloads are `DepthWriter`'s png16 and color files, byte for byte."""
    from depth_anything.app.processing import compute_depth_outputs

    class Constant:
        is_metric = False
        input_size = 28

        def predict_one(self, rgb):
            return _depth(*rgb.shape[:2])

    calls = []
    real_write = DepthWriter.write
    monkeypatch.setattr(DepthWriter, "write", lambda self, *a, **k: calls.append(self.formats) or real_write(self, *a, **k))
    photo = tmp_path / "cat.png"
    write_png(photo, np.random.default_rng(0).integers(0, 255, (37, 53, 3), dtype=np.uint8))
    out = compute_depth_outputs(photo, Constant(), tmp_path / "out", "magma")
    assert calls == [["png16", "color"]]
    reference = DepthWriter(tmp_path / "ref", ["png16", "color"], metric=False, cmap="magma", model="model",
                            input_size=28).write("cat", None, _depth())
    assert out.depth16_path.read_bytes() == reference["png16"].read_bytes()
    assert out.colored_path.read_bytes() == reference["color"].read_bytes()


def test_level_one_deflates_through_isal_and_other_levels_through_zlib(monkeypatch):
    import depth_anything.outputs as outputs_module

    isal_zlib = pytest.importorskip("isal.isal_zlib")
    calls = []

    class Spy:
        @staticmethod
        def compressobj(level):
            calls.append(level)
            return isal_zlib.compressobj(level)

    monkeypatch.setattr(outputs_module, "_fast_deflate", Spy)
    picture = np.zeros((8, 8, 3), np.uint8)
    for level in (0, 1, 6):
        encode_png(picture, level)
    assert calls == [1]
