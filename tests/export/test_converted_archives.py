"""The host side reads what Luxonis' modelconverter writes: archives converted for RVC2 (.superblob,
planar BGR, NCHW) and RVC4 (.dlc, interleaved BGR, NHWC), with configs generated here the way
modelconverter 0.6.0 writes them (inputs from the compiled model, preprocessing mean 0 / scale 1 with
the original scale baked in, the original heads kept), and bare blobs with a colour order and range."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from model_helpers import tiny_config

pytest.importorskip("luxonis_ml", reason="NN Archives need the oak extra: pip install 'depth-anything[oak]'")

from depth_anything.errors import ExportError  # noqa: E402
from depth_anything.export.depthai import (  # noqa: E402
    ArchiveModel,
    archive_model,
    archive_model_file,
    bare_blob_model,
    build_replay_pipeline,
    input_height_width,
)
from depth_anything.export.nnarchive import validate_config  # noqa: E402
from depth_anything.models import build_model  # noqa: E402

SPEC = build_model(tiny_config()).input_spec.with_input_size(252)


def converted_config(model_file: str, layout: str, dai_type: str, dtype: str, precision: str) -> dict:
    """config.json as modelconverter writes it after compiling our archive (252×336 network)."""
    shape = [1, 252, 336, 3] if layout == "NHWC" else [1, 3, 252, 336]
    return {
        "config_version": "1.0",
        "model": {
            "metadata": {"name": "vits", "path": model_file, "precision": precision},
            "inputs": [{
                "name": "image", "shape": shape, "layout": layout, "dtype": dtype, "input_type": "image",
                "preprocessing": {"mean": [0, 0, 0], "scale": [1, 1, 1], "reverse_channels": False,
                                  "interleaved_to_planar": layout == "NHWC", "dai_type": dai_type},
            }],
            "outputs": [{"name": "depth", "shape": [1, 252, 336], "layout": "NHW", "dtype": "float16"}],
            "heads": [{"name": "depth", "parser": "MapOutputParser", "outputs": ["depth"],
                       "metadata": {"postprocessor_path": None, "input_spec": SPEC.to_dict(), "target": "rvc4"}}],
        },
    }


def write_archive(path, config: dict) -> None:
    with tarfile.open(path, "w:xz") as tar:
        for name, data in (("config.json", json.dumps(config).encode()), (config["model"]["metadata"]["path"], b"\0" * 64)):
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))


CONVERTED = {
    "rvc2_superblob": ("vits.superblob", "NCHW", "BGR888p", "uint8", "float16"),
    "rvc4_dlc": ("vits.dlc", "NHWC", "BGR888i", "uint8", "int8"),
    "rvc2_blob": ("vits.blob", "NCHW", "BGR888p", "uint8", "float16"),
}


@pytest.mark.parametrize("kind", sorted(CONVERTED))
def test_converted_archives_give_the_network_size(kind, tmp_path):
    config = converted_config(*CONVERTED[kind])
    validate_config(config)  # luxonis-ml's own schema takes it
    out = tmp_path / f"{kind}.tar.xz"
    write_archive(out, config)
    assert archive_model(out) == ArchiveModel(SPEC, 252, 336, (0, 0, 0), (1, 1, 1))
    assert archive_model_file(out) == CONVERTED[kind][0]
    with pytest.raises(ExportError, match="compiled for a camera"):
        build_replay_pipeline(tmp_path / "none.mp4", out)


@pytest.mark.parametrize(("shape", "layout", "expected"), [
    ([1, 3, 252, 336], "NCHW", (252, 336)),
    ([1, 252, 336, 3], "NHWC", (252, 336)),
    ([1, 252, 336, 3], None, (252, 336)),  # no layout: the channel axis decides, as DepthAI's reader does
    ([1, 3, 252, 336], None, (252, 336)),
    ([3, 420, 560], "CHW", (420, 560)),
    ([1, 1, 120, 160], "NCHW", (120, 160)),
])
def test_input_height_width_reads_both_layouts(shape, layout, expected):
    assert input_height_width(shape, layout) == expected


def test_input_without_a_channel_axis_is_refused():
    with pytest.raises(ExportError, match="cannot tell height and width"):
        input_height_width([1, 252, 336, 5], None)


def test_depthai_agrees_on_a_converted_nhwc_archive(tmp_path):
    dai = pytest.importorskip("depthai", reason="DepthAI needs the oak extra: pip install 'depth-anything[oak]'")
    out = tmp_path / "rvc4.tar.xz"
    write_archive(out, converted_config(*CONVERTED["rvc4_dlc"]))
    try:
        parsed = dai.NNArchive(str(out))
    except RuntimeError as exc:  # some DepthAI versions parse the model file itself
        pytest.skip(f"DepthAI does not open an archive with a placeholder .dlc: {exc}")
    width, height = parsed.getInputSize()
    assert (height, width) == (archive_model(out).height, archive_model(out).width)


def test_bare_blobs_take_an_explicit_colour_order_and_range():
    model, frame = bare_blob_model(SPEC, (252, 336))
    assert (model.height, model.width, frame) == (252, 336, "BGR888p")  # modelconverter's blobs: BGR, 0–255
    assert bare_blob_model(SPEC, (252, 336), colour_order="rgb")[1] == "RGB888p"
    with pytest.raises(ExportError, match="colour_order='YUV'"):
        bare_blob_model(SPEC, (252, 336), colour_order="YUV")
    with pytest.raises(ExportError, match="input_range=1: the camera sends 8-bit frames"):
        bare_blob_model(SPEC, (252, 336), input_range=1.0)
    with pytest.raises(ExportError, match="spec= and network_size="):
        bare_blob_model(None, None)
