"""The OAK pieces that need no camera: --stereo-align's host node inside a real DepthAI pipeline (a replayed
video, the archive's network on the host, a stand-in for the OAK-D's StereoDepth node with holes), the
platform check of converted archives, and the check that a network input fits the camera."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from model_helpers import tiny_config

pytest.importorskip("depthai", reason="DepthAI needs the oak extra: pip install 'depth-anything[oak]'")
pytest.importorskip("luxonis_ml", reason="NN Archives need the oak extra: pip install 'depth-anything[oak]'")

from depth_anything.errors import ExportError  # noqa: E402
from depth_anything.export.depthai import (  # noqa: E402
    ArchiveModel,
    archive_model,
    block_host_inputs,
    build_replay_pipeline,
    check_network_fits,
    check_platform,
    depth_frames,
    host_node_classes,
    model_platform,
    network_output_to_depth,
)
from depth_anything.models import build_model  # noqa: E402

FRAMES = 6


def _clip(path) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 120))
    y, x = np.mgrid[0:120, 0:160]
    for i in range(FRAMES):
        writer.write(np.stack([(x + 20 * i) % 256, y * 2, (x + y) % 256], -1).astype(np.uint8))
    writer.release()


def test_stereo_align_host_fills_the_holes_in_metres(archive, tmp_path):
    """The stand-in stereo is an exact disparity-affine function of the network's depth (disparity
    2/depth + 0.1, in millimetres as StereoDepth sends it) with every other column and a block missing:
    the output must be the stereo where it measured and that function in its holes."""
    import depthai as dai

    _clip(tmp_path / "clip.mp4")
    built = build_replay_pipeline(tmp_path / "clip.mp4", archive[0])
    _, _, stereo_host_class = host_node_classes()
    model = archive_model(archive[0])

    def metric_truth(network, bgr):
        depth = network_output_to_depth(
            network.getTensor(model.output, dequantize=True), (model.height, model.width), bgr.shape[:2]
        )
        return 1.0 / (2.0 / depth + 0.1)

    truths: dict[int, np.ndarray] = {}
    measured: dict[int, np.ndarray] = {}
    checked = 0

    class StandInStereo(dai.node.HostNode):
        def __init__(self):
            super().__init__()
            self.depth = self.createOutput()

        def build(self, network, frames):
            self.link_args(network, frames)
            return self

        def process(self, network, frame):  # the exact answer is kept before the host node can have it
            truths[frame.getSequenceNum()] = metric_truth(network, frame.getCvFrame())
            millimetres = np.round(truths[frame.getSequenceNum()] * 1000).astype(np.uint16)
            millimetres[:, ::2] = 0  # no match
            millimetres[40:80, 60:100] = 0  # a textureless patch
            measured[frame.getSequenceNum()] = millimetres
            message = dai.ImgFrame()
            message.setFrame(millimetres)
            message.setType(dai.ImgFrame.Type.RAW16)
            message.setWidth(millimetres.shape[1])
            message.setHeight(millimetres.shape[0])
            message.setTimestamp(frame.getTimestamp())
            message.setSequenceNum(frame.getSequenceNum())
            self.depth.send(message)

    stereo = built.pipeline.create(StandInStereo).build(built.network.out_network, built.source.out)
    built.host = built.pipeline.create(stereo_host_class).build(
        built.network.out_network, built.source.out, stereo.depth, model
    )
    block_host_inputs(stereo, built.host)

    for frame in depth_frames(built):
        truth = truths[frame.index]
        assert frame.depth.shape == (120, 160)
        np.testing.assert_allclose(frame.depth, truth, rtol=2e-3, atol=1e-3)  # millimetre rounding
        assert float(np.abs(frame.depth[40:80, 60:100] - truth[40:80, 60:100]).max()) < 5e-3
        stereo = measured[frame.index] > 0  # where the stereo measured, its own value is sent
        np.testing.assert_array_equal(
            frame.depth[stereo], measured[frame.index][stereo].astype(np.float32) / 1000
        )
        checked += 1
    assert checked == FRAMES and built.host.fits == FRAMES
    # a metric archive's output is metres: aligned through its inverse (a relative one's is disparity already);
    # the tiny model's output spans a few per cent, too little for the pipeline above to tell the two apart
    assert built.host.alignment.kind == "depth" and built.host.metric


def test_platform_check_names_what_the_archive_and_camera_are():
    assert (model_platform("vits.superblob"), model_platform("a.BLOB"), model_platform("vits.dlc")) == (
        "RVC2",
        "RVC2",
        "RVC4",
    )
    assert model_platform("depth_anything.onnx") is None
    check_platform("vits.dlc", "RVC4", "a.tar.xz")
    with pytest.raises(
        ExportError,
        match=r"a.tar.xz holds vits.dlc, compiled for RVC4, but the connected camera is "
        r"RVC2: export with target=rvc2",
    ):
        check_platform("vits.dlc", "RVC2", "a.tar.xz")
    with pytest.raises(ExportError, match="not compiled for a camera: convert it"):
        check_platform("depth_anything.onnx", "RVC4", "a.tar.xz")


def test_network_input_must_fit_the_camera():
    spec = build_model(tiny_config()).input_spec
    check_network_fits(ArchiveModel(spec, 252, 336), (1920, 1080))
    with pytest.raises(ExportError, match="not a static size in multiples of the patch size 14"):
        check_network_fits(ArchiveModel(spec, 250, 336), (1920, 1080), "m.tar.xz")
    with pytest.raises(ExportError, match="not a static size"):
        check_network_fits(ArchiveModel(spec, -1, 336), None, "m.tar.xz")
    with pytest.raises(
        ExportError, match="m.tar.xz: network input 1400×1050 is larger than the camera's 1280×800"
    ):
        check_network_fits(ArchiveModel(spec, 1050, 1400), (1280, 800), "m.tar.xz")


def test_export_prints_the_converter_commands_the_docs_give(capsys):
    """The commands `export --target rvc2|rvc4` prints, with the tool versions pinned (modelconverter 0.6.2's
    defaults; its command line accepted these, docs/deployment.md)."""
    from types import SimpleNamespace

    from depth_anything.cli.export import _print_conversion

    _print_conversion("vits_rvc2.tar.xz", "rvc2", None)
    _print_conversion("vits_rvc4_fp16.tar.xz", "rvc4", None)
    _print_conversion("vits_rvc4.tar.xz", "rvc4", SimpleNamespace(calibration_size=32))
    printed = capsys.readouterr().out
    docs = (Path(__file__).resolve().parents[2] / "docs" / "deployment.md").read_text()
    for command in (
        "modelconverter convert rvc2 --path vits_rvc2.tar.xz --tool-version 2022.3.0",
        "modelconverter convert rvc4 --path vits_rvc4_fp16.tar.xz --tool-version 2.41.0 rvc4.quantization_mode FP16_STANDARD",
        "modelconverter convert rvc4 --path vits_rvc4.tar.xz --tool-version 2.41.0 calibration.path vits_rvc4.calibration",
    ):
        assert f"{command}\n" in printed and command in docs, command
