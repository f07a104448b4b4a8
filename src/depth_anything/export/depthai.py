"""OAK cameras through DepthAI v3 (`pip install 'depth-anything[oak]'`).

    colour camera ──► NeuralNetwork (converted NN Archive or .blob) ──► DepthHost (host) ──► depth, pictures
        └──────────── preview frame ─────────────────────────────────────┘

`DepthHost` is a host node: it takes the network's raw output ([1, h, w] at the network size, the
`depth` tensor of the archive's graph) and the preview frame, and turns them into this project's
results through the same post-processing as every other tool: `transforms.resize_depth` back to the
frame's size (undoing the archive's STRETCH resize) and `pictures.colorize_depth`. It sends a `depth`
NNData (float32 H×W at the frame's size) on `depth` and a BGR picture on `picture`.

What needs what:
- `build_camera_pipeline` needs a connected OAK (DepthAI cannot create Camera or NeuralNetwork nodes
  without a device) and a model compiled for it: the archive from `depth-anything export --format
  nnarchive` holds ONNX, which Luxonis' converter turns into an RVC2 .blob / RVC4 .dlc archive.
- `build_replay_pipeline` runs without any device: a video file (ReplayVideo) → `HostNetwork`, which
  runs the archive's ONNX model with ONNX Runtime after the archive's own preprocessing → `DepthHost`.
  It checks the host side, and an archive, on a laptop; the tests run it.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ExportError, require_extra
from ..inference.exported import OUTPUT_NAME
from ..inference.runtimes import as_numpy
from ..pictures import DEFAULT_CMAP, depth_picture
from ..transforms import InputSpec, resize_depth
from .nnarchive import read_nnarchive

PREVIEW_SIZE = (640, 480)  # width, height of the frames the depth is resized back to


@dataclass
class OakPipeline:
    """A built pipeline and its nodes: `source` (Camera or ReplayVideo), `network` (NeuralNetwork or
    HostNetwork) and `host` (DepthHost: read `host.depth` / `host.picture` with createOutputQueue())."""

    pipeline: Any
    source: Any
    network: Any
    host: Any


@dataclass(frozen=True)
class ArchiveModel:
    """What the host side needs to know about a network: its input size, preprocessing and output."""

    spec: InputSpec
    height: int
    width: int
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: tuple[float, float, float] = (255.0, 255.0, 255.0)
    output: str = OUTPUT_NAME


# What Luxonis' modelconverter writes (0.6.0): its compiled models take the camera's BGR frames with the
# archive's mean and scale baked in, so a bare blob from it wants BGR values 0–255.
BLOB_COLOUR_ORDER = "BGR"
BLOB_INPUT_RANGE = 255.0
COLOUR_ORDERS = ("BGR", "RGB")
CONVERTED_SUFFIXES = (".blob", ".superblob", ".dlc")  # RVC2 (OpenVINO 2021.4 / 2022.3), RVC4 (SNPE)


def input_height_width(shape: Any, layout: str | None = None) -> tuple[int, int]:
    """(height, width) of an image input: from `layout` ("NCHW", "NHWC", ...) where it names H and W,
    else as DepthAI's NNArchive does, from the channel axis (3 or 1 channels first → NCHW, last → NHWC).
    Converted RVC4 archives describe their input in NHWC, unconverted ones in NCHW."""
    dims = [int(d) for d in shape]
    letters = (layout or "").upper()
    if len(letters) == len(dims) and "H" in letters and "W" in letters:
        return dims[letters.index("H")], dims[letters.index("W")]
    if len(dims) in (3, 4):
        first, last = dims[-3], dims[-1]
        if first in (1, 3) and last not in (1, 3):
            return dims[-2], dims[-1]
        if last in (1, 3):
            return dims[-3], dims[-2]
    raise ExportError(f"input shape {dims} (layout {layout!r}): cannot tell height and width; give a layout "
                      "such as NCHW or NHWC in the archive's config")


def archive_model(path: str | os.PathLike) -> ArchiveModel:
    """The `ArchiveModel` described by an NN Archive's `config.json`: one written by `export_nnarchive`
    (ONNX, NCHW) or the same archive converted by modelconverter (.superblob / .blob / .dlc, often NHWC)."""
    config, _ = read_nnarchive(path)
    try:
        model = config["model"]
        inputs, head = model["inputs"][0], model["heads"][0]
        spec = InputSpec.from_dict(head["metadata"]["input_spec"])
        height, width = input_height_width(inputs["shape"], inputs.get("layout"))
        pre = inputs["preprocessing"]
        output = (head.get("outputs") or [model["outputs"][0]["name"]])[0]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ExportError(
            f"{path}: config.json lacks this project's depth head ({exc}); use an archive written by "
            "`export_nnarchive` (`depth-anything export`), or its converted version"
        ) from exc
    return ArchiveModel(spec, height, width, tuple(pre.get("mean") or (0, 0, 0)), tuple(pre.get("scale") or (1, 1, 1)), output)


def archive_model_file(path: str | os.PathLike) -> str:
    """The model file an NN Archive names (`depth_anything.onnx`, or a converted `.superblob`/`.blob`/`.dlc`)."""
    config, _ = read_nnarchive(path)
    return str(config["model"]["metadata"]["path"])


def network_output_to_depth(raw: Any, network_size: tuple[int, int], frame_size: tuple[int, int]) -> np.ndarray:
    """The network's raw output (any of [h·w], [h, w], [1, h, w], [1, 1, h, w]; float16 or float32) as a
    float32 depth map resized back to `frame_size` (height, width) like every prediction here."""
    array = np.asarray(raw, dtype=np.float32)
    if array.size != network_size[0] * network_size[1]:
        raise ExportError(f"network output of shape {array.shape} does not hold a {network_size[0]}×{network_size[1]} map")
    return resize_depth(np.ascontiguousarray(array.reshape(network_size)), tuple(frame_size))


def archive_input(rgb: np.ndarray, model: ArchiveModel) -> np.ndarray:
    """What the camera hands the network for one RGB uint8 frame: stretched to the network size, then the
    archive's (x − mean) / scale, planar [1, 3, h, w] float32 (RGB888p)."""
    resized = cv2.resize(rgb, (model.width, model.height), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    planar = (resized - np.asarray(model.mean, np.float32)) / np.asarray(model.scale, np.float32)
    return np.ascontiguousarray(planar.transpose(2, 0, 1)[None])


def read_depth_message(message: Any) -> np.ndarray:
    """The float32 H×W depth map inside a `DepthHost` output message."""
    return np.asarray(message.getTensor(OUTPUT_NAME, dequantize=True), dtype=np.float32)


def _bgr_frame(frame: Any) -> np.ndarray:
    picture = frame.getCvFrame()
    return picture if picture.ndim == 3 else cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR)


@lru_cache(maxsize=1)
def host_node_classes() -> tuple[type, type]:
    """The host node classes, defined once depthai is importable (it is an optional extra)."""
    dai = require_extra("depthai", "oak")

    class DepthHost(dai.node.HostNode):
        """Network output + preview frame → depth at the frame's size (`depth`) and its picture (`picture`)."""

        def __init__(self) -> None:
            super().__init__()
            self.depth = self.createOutput()
            self.picture = self.createOutput()

        def build(self, network_output: Any, frames: Any, model: ArchiveModel, cmap: str = DEFAULT_CMAP) -> DepthHost:
            self.link_args(network_output, frames)
            self.model, self.cmap = model, cmap
            return self

        def process(self, network, frame):  # unannotated: depthai builds link_args from this signature
            raw = network.getTensor(self.model.output, dequantize=True) if network.hasLayer(self.model.output) \
                else network.getFirstTensor(dequantize=True)
            bgr = _bgr_frame(frame)
            depth = network_output_to_depth(raw, (self.model.height, self.model.width), bgr.shape[:2])
            message = dai.NNData()
            message.addTensor(OUTPUT_NAME, depth)
            message.setTimestamp(frame.getTimestamp())
            message.setSequenceNum(frame.getSequenceNum())
            self.depth.send(message)
            picture = dai.ImgFrame()
            picture.setCvFrame(cv2.cvtColor(depth_picture(depth, self.cmap, invert=self.model.spec.is_metric), cv2.COLOR_RGB2BGR),
                               dai.ImgFrame.Type.BGR888i)
            picture.setTimestamp(frame.getTimestamp())
            picture.setSequenceNum(frame.getSequenceNum())
            self.picture.send(picture)

    class HostNetwork(dai.node.HostNode):
        """Stands in for the camera's NeuralNetwork node on the host: the archive's preprocessing, then its
        ONNX graph under ONNX Runtime; sends the raw output as the device would (NNData `depth`)."""

        def __init__(self) -> None:
            super().__init__()
            self.out_network = self.createOutput()

        def build(self, frames: Any, runtime: Any, model: ArchiveModel) -> HostNetwork:
            self.link_args(frames)
            self.runtime, self.model = runtime, model
            return self

        def process(self, frame):  # unannotated: depthai builds link_args from this signature
            rgb = cv2.cvtColor(_bgr_frame(frame), cv2.COLOR_BGR2RGB)
            raw = as_numpy(self.runtime.run(archive_input(rgb, self.model)))
            message = dai.NNData()
            message.addTensor(self.model.output, raw.astype(np.float32))
            message.setTimestamp(frame.getTimestamp())
            message.setSequenceNum(frame.getSequenceNum())
            self.out_network.send(message)

    return DepthHost, HostNetwork


def build_replay_pipeline(
    video: str | os.PathLike, archive: str | os.PathLike, cmap: str = DEFAULT_CMAP, loop: bool = True
) -> OakPipeline:
    """A device-free pipeline: ReplayVideo(video) → HostNetwork(the archive's ONNX on ONNX Runtime) →
    DepthHost.

    With `loop=False` the pipeline stops itself at the video's end, which closes the queues (possibly
    before the last frames reach them); the default replays until `pipeline.stop()`."""
    dai = require_extra("depthai", "oak")
    from ..inference.runtimes import OnnxRuntime  # the exported-graph runtime (onnx extra)

    depth_host_class, host_network_class = host_node_classes()
    model_name = archive_model_file(archive)
    if not model_name.endswith(".onnx"):
        raise ExportError(f"{archive} holds {model_name}, compiled for a camera; the replay runs the archive's ONNX "
                          "model on the host: use the archive export_nnarchive wrote, before conversion")
    model = archive_model(archive)
    _, onnx_bytes = read_nnarchive(archive)
    with tempfile.TemporaryDirectory() as folder:  # onnxruntime reads the model once, at load
        model_file = Path(folder) / "model.onnx"
        model_file.write_bytes(onnx_bytes)
        runtime = OnnxRuntime(model_file)
    pipeline = dai.Pipeline(createImplicitDevice=False)
    replay = pipeline.create(dai.node.ReplayVideo)
    replay.setReplayVideoFile(Path(video))
    replay.setOutFrameType(dai.ImgFrame.Type.BGR888i)
    replay.setLoop(loop)
    network = pipeline.create(host_network_class).build(replay.out, runtime, model)
    host = pipeline.create(depth_host_class).build(network.out_network, replay.out, model, cmap)
    return OakPipeline(pipeline, replay, network, host)


def bare_blob_model(
    spec: InputSpec | None, network_size: tuple[int, int] | None, colour_order: str = BLOB_COLOUR_ORDER,
    input_range: float = BLOB_INPUT_RANGE,
) -> tuple[ArchiveModel, str]:
    """(the `ArchiveModel`, the camera frame type: BGR888p or RGB888p) for a bare blob, or an error saying
    what is missing or what the camera cannot feed it."""
    if spec is None or network_size is None:
        raise ExportError("a bare blob needs spec= and network_size= (the size it was exported at)")
    order = str(colour_order).upper()
    if order not in COLOUR_ORDERS:
        raise ExportError(f"colour_order={colour_order!r}: give one of {', '.join(COLOUR_ORDERS)}")
    if float(input_range) != BLOB_INPUT_RANGE:
        raise ExportError(
            f"input_range={input_range:g}: the camera sends 8-bit frames (0–255) to a blob; compile it with the "
            "scale inside (modelconverter does so from the archive's preprocessing: scale 255)"
        )
    return ArchiveModel(spec, *network_size), f"{order}888p"


def build_camera_pipeline(
    model_file: str | os.PathLike,
    spec: InputSpec | None = None,
    network_size: tuple[int, int] | None = None,
    preview_size: tuple[int, int] = PREVIEW_SIZE,
    fps: float | None = None,
    cmap: str = DEFAULT_CMAP,
    pipeline: Any = None,
    colour_order: str = BLOB_COLOUR_ORDER,
    input_range: float = BLOB_INPUT_RANGE,
) -> OakPipeline:
    """Colour camera → NeuralNetwork → DepthHost on a connected OAK; start it with `.pipeline.start()`.

    `model_file` is an NN Archive converted for the device (RVC2 .superblob/.blob or RVC4 .dlc inside:
    its config.json still carries this project's depth head), or a bare `.blob`/`.superblob`, for which
    `spec` and `network_size` (height, width) say what it was exported with, and `colour_order` ("BGR"
    or "RGB") and `input_range` (the pixel value range it takes) what it expects: the defaults are what
    modelconverter's blobs take (BGR, 0–255). `preview_size` is (width, height).
    """
    dai = require_extra("depthai", "oak")
    depth_host_class, _ = host_node_classes()
    path = Path(model_file)
    pipeline = pipeline if pipeline is not None else dai.Pipeline()  # opens the connected device
    camera = pipeline.create(dai.node.Camera).build(dai.CameraBoardSocket.CAM_A)
    if path.suffix in (".blob", ".superblob"):
        model, frame_type = bare_blob_model(spec, network_size, colour_order, input_range)
        network = pipeline.create(dai.node.NeuralNetwork)
        network.setModelPath(path)
        frame = getattr(dai.ImgFrame.Type, frame_type)
        camera.requestOutput((model.width, model.height), frame, dai.ImgResizeMode.STRETCH, fps).link(network.input)
    else:
        model = archive_model(path)
        network = pipeline.create(dai.node.NeuralNetwork).build(camera, dai.NNArchive(path), fps, dai.ImgResizeMode.STRETCH)
    preview = camera.requestOutput(preview_size, dai.ImgFrame.Type.BGR888i, dai.ImgResizeMode.STRETCH, fps)
    host = pipeline.create(depth_host_class).build(network.out, preview, model, cmap)
    return OakPipeline(pipeline, camera, network, host)


__all__ = [
    "ArchiveModel", "BLOB_COLOUR_ORDER", "BLOB_INPUT_RANGE", "OakPipeline", "archive_input", "archive_model",
    "archive_model_file", "bare_blob_model", "build_camera_pipeline", "build_replay_pipeline", "host_node_classes",
    "input_height_width", "network_output_to_depth", "read_depth_message",
]
