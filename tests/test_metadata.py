"""Every format the toolkit writes carries a `DepthMetadata` record that reads back equal."""

from __future__ import annotations

import json

import numpy as np
import pytest

from depth_anything.errors import ConfigError
from depth_anything.geometry import Intrinsics
from depth_anything.metadata import (
    DepthMetadata,
    exr_header,
    glb_extras,
    npz_fields,
    ply_comments,
    png_text,
    read_metadata,
    sidecar_json,
    sidecar_path,
    stamp_ply,
)
from depth_anything.outputs import write_png

RECORD = DepthMetadata.for_model(
    True,
    "default-metric",
    266,
    width=64,
    height=48,
    png_scale=1000.0,
    intrinsics=Intrinsics.from_fov(64, 48, 70.0),
    focal_source="fov",
)


def test_dict_round_trip_keeps_every_field_and_states_the_fov():
    values = RECORD.to_dict()
    assert values["fov_deg"] == pytest.approx(70.0)
    assert values["intrinsics"]["fx"] == pytest.approx(32 / np.tan(np.radians(35)))
    assert DepthMetadata.from_dict(json.loads(json.dumps(values))) == RECORD
    assert DepthMetadata.from_json(RECORD.to_json()) == RECORD


@pytest.mark.parametrize(
    ("values", "word"),
    [
        ({"kind": "inches"}, "kind"),
        ({"intrinsics": {"fx": 1}}, "intrinsics"),
        ({"colour": 1}, "colour"),
        ({"schema": 99}, "schema"),
        ({"width": "wide"}, "width"),
        ({"focal_source": "guess"}, "focal_source"),
    ],
)
def test_bad_records_name_the_key(values, word):
    with pytest.raises(ConfigError, match=word):
        DepthMetadata.from_dict(values, "x.png")


def test_png_text_chunk(tmp_path):
    path = write_png(tmp_path / "d.png", np.zeros((48, 64), np.uint16), text=png_text(RECORD))
    assert read_metadata(path) == RECORD


def test_npz_field_is_read_without_pickle(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, depth=np.ones((2, 2), np.float32), **npz_fields(RECORD))
    assert read_metadata(path) == RECORD


def test_npy_sidecar(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.ones((2, 2), np.float32))
    assert read_metadata(path) is None
    sidecar_path(path).write_text(sidecar_json(RECORD))
    assert sidecar_path(path).name == "d.npy.json"
    assert read_metadata(path) == RECORD


def test_exr_attribute(tmp_path):
    openexr = pytest.importorskip("OpenEXR")
    path = tmp_path / "d.exr"
    header = {"compression": openexr.ZIP_COMPRESSION, "type": openexr.scanlineimage, **exr_header(RECORD)}
    openexr.File(header, {"Z": np.ones((48, 64), np.float32)}).write(str(path))
    assert read_metadata(path) == RECORD


def test_ply_comments_through_plyfile_and_stamped_afterwards(tmp_path):
    plyfile = pytest.importorskip("plyfile")
    vertices = np.zeros(3, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
    element = plyfile.PlyElement.describe(vertices, "vertex")
    written = tmp_path / "a.ply"
    plyfile.PlyData([element], comments=ply_comments(RECORD)).write(str(written))
    assert read_metadata(written) == RECORD
    bare = tmp_path / "b.ply"
    plyfile.PlyData([element], text=True).write(str(bare))
    assert read_metadata(bare) is None
    bare.write_bytes(stamp_ply(bare.read_bytes(), RECORD))
    assert read_metadata(bare) == RECORD
    assert len(plyfile.PlyData.read(str(bare))["vertex"]) == 3  # still a valid PLY


def test_glb_extras_through_trimesh(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    scene = trimesh.Scene(trimesh.creation.box())
    scene.metadata.update(glb_extras(RECORD))
    path = tmp_path / "m.glb"
    scene.export(path)
    assert read_metadata(path) == RECORD


def test_damaged_record_names_the_file(tmp_path):
    path = write_png(tmp_path / "d.png", np.zeros((2, 2), np.uint8), text={"depth-anything": "{not json"})
    with pytest.raises(ConfigError, match="d.png"):
        read_metadata(path)


def test_every_file_the_writer_writes_says_what_it_holds(tmp_path):
    from depth_anything.outputs import DepthWriter, PointCloudOptions

    pytest.importorskip("plyfile")
    depth = np.linspace(1.0, 3.0, 48 * 64, dtype=np.float32).reshape(48, 64)
    image = np.zeros((48, 64, 3), np.uint8)
    writer = DepthWriter(
        tmp_path,
        ["color", "gray", "side", "png16", "npy", "ply", "normals", "normals_npy"],
        metric=True,
        model="default-metric",
        input_size=266,
        points=PointCloudOptions(fov_deg=70.0),
    )
    written = writer.write("a", image, depth)
    contents = {
        "color": "picture",
        "gray": "picture",
        "side": "picture",
        "png16": "depth",
        "npy": "depth",
        "ply": "points",
        "normals": "normals",
        "normals_npy": "normals",
    }
    for fmt, path in written.items():
        record = read_metadata(path)
        assert record is not None, fmt
        assert (record.content, record.kind, record.model, record.input_size) == (
            contents[fmt],
            "metric",
            "default-metric",
            266,
        ), fmt
        assert (record.width, record.height, record.focal_source) == (64, 48, "fov"), fmt
        assert record.fov_deg == pytest.approx(70.0), fmt
    assert read_metadata(written["png16"]).png_scale == 1000.0


def test_relative_png16_records_how_to_get_the_values_back(tmp_path):
    from depth_anything.io import load_depth_png16
    from depth_anything.outputs import DepthWriter

    depth = np.linspace(0.25, 4.0, 30, dtype=np.float32).reshape(5, 6)
    path = DepthWriter(tmp_path, ["png16"], metric=False, model="default").write("r", None, depth)["png16"]
    record = read_metadata(path)
    assert record.kind == "disparity" and record.intrinsics is None
    back = record.png_offset + load_depth_png16(path, 1.0) / record.png_scale
    np.testing.assert_allclose(back, depth, atol=4.0 / 65535)


def test_sequences_carry_the_record_in_every_format(tmp_path):
    from depth_anything.outputs import SequenceWriter

    pytest.importorskip("OpenEXR")
    with SequenceWriter(
        tmp_path, "clip", ["png16", "npz", "exr"], fps=12, metric=False, model="vda-small", input_size=280
    ) as writer:
        for index in range(3):
            writer.write(np.full((6, 8), 1.0 + index, np.float32))
    frame = read_metadata(tmp_path / "clip" / "000002.png")
    assert (frame.frame, frame.frames, frame.fps, frame.model, frame.input_size) == (
        2,
        3,
        12.0,
        "vda-small",
        280,
    )
    assert frame.png_offset == 1.0 and frame.png_scale == pytest.approx(65535.0 / 2.0)
    assert read_metadata(tmp_path / "clip" / "000001.exr").frame == 1
    assert read_metadata(tmp_path / "clip.npz").frames == 3
    whole = read_metadata(tmp_path / "clip")  # the folder: its png16.json
    assert (
        whole.frames == 3
        and whole.frame is None
        and json.loads((tmp_path / "clip" / "png16.json").read_text())["low"] == 1.0
    )


@pytest.mark.parametrize("header", [b"abc\x00", b"abc\x00str\x00\x05"])
def test_cut_short_exr_header_names_the_file(tmp_path, header):
    path = tmp_path / "cut.exr"
    path.write_bytes(b"\x76\x2f\x31\x01\x02\x00\x00\x00" + header)
    with pytest.raises(ConfigError, match=r"cut\.exr: the OpenEXR header is cut short"):
        read_metadata(path)
