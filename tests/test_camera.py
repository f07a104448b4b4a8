"""The camera of a photo: EXIF focal lengths (written into JPEGs here with Pillow) give the known field
of view; zero, absurd or missing values fall back to --focal/--fov, then to 60°, with a warning."""

from __future__ import annotations

import io
import logging
import math

import pytest
from PIL import Image, TiffImagePlugin

from depth_anything.camera import choose_camera, focal_from_exif, fov_from_focal, read_exif
from depth_anything.geometry import DEFAULT_FOV_DEG

EXIF_IFD, FOCAL_LENGTH, FOCAL_35MM, PLANE_X, PLANE_UNIT, EXIF_WIDTH = (
    0x8769,
    0x920A,
    0xA405,
    0xA20E,
    0xA210,
    0xA002,
)
ORIENTATION = 0x0112


def jpeg_with_exif(path, size=(400, 300), orientation=None, **tags) -> str:
    """A JPEG of `size` whose EXIF sub-IFD holds `tags` (tag number → value)."""
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    sub = exif.get_ifd(EXIF_IFD)
    for tag, value in tags.items():
        sub[int(tag)] = value
    Image.new("RGB", size, (90, 120, 150)).save(path, "JPEG", exif=exif)
    return str(path)


def rational(numerator: int, denominator: int) -> TiffImagePlugin.IFDRational:
    return TiffImagePlugin.IFDRational(numerator, denominator)


def test_35mm_equivalent_gives_the_known_field_of_view(tmp_path):
    # a 3:2 photo covers the 36 mm side of the full frame: 24 mm equivalent = 2·atan(18/24) = 73.74°
    path = jpeg_with_exif(tmp_path / "phone.jpg", size=(600, 400), **{str(FOCAL_35MM): 24})
    camera = choose_camera(600, 400, path)
    assert camera.source == "exif" and "FocalLengthIn35mmFilm 24" in camera.detail
    assert camera.fov_deg == pytest.approx(math.degrees(2 * math.atan(18 / 24)), abs=1e-6)
    assert camera.intrinsics.fx == pytest.approx(24 * math.hypot(600, 400) / math.hypot(36, 24))
    assert (camera.intrinsics.cx, camera.intrinsics.cy) == (299.5, 199.5)


def test_focal_length_with_sensor_density_and_a_resized_photo(tmp_path):
    # 5 mm lens, 400 px/mm sensor (10160 px/inch), shot at 4000 px wide, stored at 400: f = 5·400·0.1 = 200 px
    tags = {
        str(FOCAL_LENGTH): rational(5, 1),
        str(PLANE_X): rational(10160, 1),
        str(PLANE_UNIT): 2,
        str(EXIF_WIDTH): 4000,
    }
    path = jpeg_with_exif(tmp_path / "camera.jpg", size=(400, 300), **tags)
    camera = choose_camera(400, 300, path)
    assert camera.source == "exif" and camera.intrinsics.fx == pytest.approx(200.0)
    assert camera.fov_deg == pytest.approx(math.degrees(2 * math.atan(200 / 200)))  # 90°


def test_a_rotated_photo_keeps_its_focal_length(tmp_path):
    path = jpeg_with_exif(tmp_path / "portrait.jpg", size=(600, 400), orientation=6, **{str(FOCAL_35MM): 24})
    upright = choose_camera(400, 600, path)  # shown as 400×600 after the EXIF rotation
    assert upright.intrinsics.fx == pytest.approx(24 * math.hypot(600, 400) / math.hypot(36, 24))
    assert upright.fov_deg == pytest.approx(math.degrees(2 * math.atan(200 / upright.intrinsics.fx)))


@pytest.mark.parametrize(
    "tags, reason",
    [
        ({str(FOCAL_35MM): 0}, "FocalLengthIn35mmFilm is 0"),
        ({str(FOCAL_35MM): 1}, "outside 2-160°"),  # 1 mm equivalent: a 172° view
        ({str(FOCAL_35MM): 60000}, "outside 2-160°"),
        ({str(FOCAL_LENGTH): rational(0, 0), str(PLANE_X): rational(100, 1)}, "not usable"),
        ({str(FOCAL_LENGTH): rational(43, 10)}, "without FocalLengthIn35mmFilm or the sensor size"),
    ],
)
def test_zero_absurd_or_incomplete_exif_falls_back_with_a_warning(tmp_path, caplog, tags, reason):
    path = jpeg_with_exif(tmp_path / "odd.jpg", **tags)
    with caplog.at_level(logging.WARNING, logger="depth_anything.camera"):
        camera = choose_camera(400, 300, path, focal_px=321.0)
    assert camera.source == "focal" and camera.intrinsics.fx == 321.0
    assert reason in caplog.text and "odd.jpg" in caplog.text
    with caplog.at_level(logging.WARNING, logger="depth_anything.camera"):
        default = choose_camera(400, 300, path)
    assert default.source == "default" and default.fov_deg == pytest.approx(DEFAULT_FOV_DEG)
    assert "assuming a 60° horizontal field of view" in caplog.text


def test_no_exif_uses_the_flags_quietly_and_the_default_with_a_warning(tmp_path, caplog):
    path = tmp_path / "plain.png"
    Image.new("RGB", (64, 48)).save(path)
    with caplog.at_level(logging.WARNING, logger="depth_anything.camera"):
        assert choose_camera(64, 48, path, fov_deg=90.0).source == "fov"
        assert caplog.text == ""
        camera = choose_camera(64, 48, path)
    assert camera.source == "default" and "plain.png" in caplog.text
    assert choose_camera(64, 48, path, fov_deg=90.0).fov_deg == pytest.approx(90.0)


def test_exif_wins_over_flags_unless_it_is_switched_off(tmp_path):
    path = jpeg_with_exif(tmp_path / "phone.jpg", size=(600, 400), **{str(FOCAL_35MM): 24})
    assert choose_camera(600, 400, path, fov_deg=40.0).source == "exif"
    assert choose_camera(600, 400, path, fov_deg=40.0, use_exif=False).fov_deg == pytest.approx(40.0)


def test_exif_from_bytes_and_unreadable_files(tmp_path):
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD)[FOCAL_35MM] = 50
    Image.new("RGB", (30, 20)).save(buffer, "JPEG", exif=exif)
    tags, stored_width = read_exif(buffer.getvalue())
    assert tags[FOCAL_35MM] == 50 and stored_width == 30
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    assert read_exif(broken) == ({}, 0)
    assert focal_from_exif({}, 30, 20) == (None, "no focal length in EXIF")
    assert fov_from_focal(10.0, 20) == pytest.approx(90.0)
