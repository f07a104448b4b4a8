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
  It checks the host side, and an archive, on a laptop; the tests run it, through `depth-anything oak`.
- `depth_frames` reads a started pipeline's results as (frame, depth) pairs; `open_device` finds a
  camera within a second or says there is none (DepthAI's own `Pipeline()` takes 10 s or more to fail).

Why a replay is looped and counted: DepthAI's ReplayVideo calls `stopPipeline()` as soon as it has sent the
file's last frame (`setLoop(False)`), which closes every queue while the last frames are still inside the
network and host nodes; and host-node inputs are non-blocking (10 messages), so a network slower than the
replay drops frames. Replays here therefore loop, every host input blocks (the replay waits for the
network), and `depth_frames` stops the pipeline after the file's frame count: every frame, once.

With `stereo=True` the camera pipeline also runs the OAK-D's StereoDepth (left/right, aligned to the colour
camera) and `StereoAlignHost` fits the network's depth to it (`alignment.TemporalAlignment`): dense metric
depth in metres that fills the stereo holes.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..alignment import TemporalAlignment, fill_holes
from ..errors import ExportError, VideoError, require_extra
from ..inference.exported import OUTPUT_NAME
from ..inference.runtimes import as_numpy
from ..pictures import DEFAULT_CMAP, depth_picture
from ..transforms import InputSpec, resize_depth
from .nnarchive import read_nnarchive

PREVIEW_SIZE = (640, 480)  # width, height of the frames the depth is resized back to
REPLAY_QUEUE = 4  # messages each blocking host input and output queue holds during a replay
CAMERA_QUEUE = 4  # messages each output queue holds live (non-blocking: a slow reader loses old frames)
STEREO_ALIGN_MOMENTUM = 0.8  # share of the previous frame's stereo fit kept (TemporalAlignment)


@dataclass
class OakPipeline:
    """A built pipeline and its nodes: `source` (Camera or ReplayVideo), `network` (NeuralNetwork or
    HostNetwork) and `host` (DepthHost or StereoAlignHost: read `host.depth`, `host.frame` and
    `host.picture` with createOutputQueue()). `frame_count`: how many frames a replay delivers (None: a
    live camera); `metric`: whether the depth is in metres (a metric model, or aligned to stereo)."""

    pipeline: Any
    source: Any
    network: Any
    host: Any
    frame_count: int | None = None
    metric: bool = False
    fps: float | None = None


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


PLATFORM_OF_SUFFIX = {".blob": "RVC2", ".superblob": "RVC2", ".dlc": "RVC4"}


def model_platform(model_file: str) -> str | None:
    """The OAK platform a model file is compiled for (RVC2 for .blob/.superblob, RVC4 for .dlc), None for
    ONNX, which no camera runs before Luxonis' converter compiles it."""
    return PLATFORM_OF_SUFFIX.get(Path(model_file).suffix.lower())


def check_platform(model_file: str, platform: str, source: str | os.PathLike) -> None:
    """Refuse a model that the camera's platform (`platform`: "RVC2", "RVC4") cannot run, saying what to do."""
    compiled = model_platform(model_file)
    if compiled is None:
        raise ExportError(
            f"{source} holds {Path(model_file).name}, not compiled for a camera: convert it with Luxonis' "
            f"modelconverter for {platform} (see docs/deployment.md), or run it on the host through a replay (replay=VIDEO)")
    if compiled != platform:
        raise ExportError(
            f"{source} holds {Path(model_file).name}, compiled for {compiled}, but the connected camera is "
            f"{platform}: export with target={platform.lower()} and convert it for {platform}")


def check_network_fits(model: ArchiveModel, camera_size: tuple[int, int] | None = None, source: Any = "the model") -> None:
    """Refuse a network input that the camera cannot feed: a size that is not a positive multiple of the
    patch size the weights were exported with, or larger than the camera's sensor (`camera_size`, width and
    height): the camera stretches its frames to the network size, it does not make pixels up."""
    patch = model.spec.size_multiple
    if model.height <= 0 or model.width <= 0 or model.height % patch or model.width % patch:
        raise ExportError(
            f"{source}: network input {model.width}×{model.height} is not a static size in multiples of the "
            f"patch size {patch}; export it at a fixed size (input_size=, with target=rvc2 or rvc4)")
    if camera_size is not None and (model.width > camera_size[0] or model.height > camera_size[1]):
        raise ExportError(
            f"{source}: network input {model.width}×{model.height} is larger than the camera's "
            f"{camera_size[0]}×{camera_size[1]} sensor; export a smaller input_size=")


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


def _stereo_metres(stereo: Any, size: tuple[int, int]) -> np.ndarray:
    """A StereoDepth frame (uint16 millimetres, 0 = no match) as metres at `size` (height, width)."""
    millimetres = np.asarray(stereo.getFrame())
    if millimetres.shape[:2] != tuple(size):  # nearest: never blend a hole into a measurement
        millimetres = cv2.resize(millimetres, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    return millimetres.astype(np.float32) / 1000.0


@lru_cache(maxsize=1)
def host_node_classes() -> tuple[type, type, type]:
    """The host node classes (DepthHost, HostNetwork, StereoAlignHost), defined once depthai is importable
    (it is an optional extra)."""
    dai = require_extra("depthai", "oak")

    def stamped(message: Any, frame: Any) -> Any:
        message.setTimestamp(frame.getTimestamp())
        message.setSequenceNum(frame.getSequenceNum())
        return message

    class DepthHost(dai.node.HostNode):
        """Network output + preview frame → depth at the frame's size (`depth`), the frame itself (`frame`)
        and the depth's picture (`picture`)."""

        def __init__(self) -> None:
            super().__init__()
            self.depth = self.createOutput()
            self.frame = self.createOutput()
            self.picture = self.createOutput()

        def build(self, network_output: Any, frames: Any, model: ArchiveModel, cmap: str = DEFAULT_CMAP) -> DepthHost:
            self.link_args(network_output, frames)
            self.model, self.cmap, self.metric = model, cmap, model.spec.is_metric
            return self

        def network_depth(self, network: Any, bgr: np.ndarray) -> np.ndarray:
            """The network's map at the frame's size."""
            raw = network.getTensor(self.model.output, dequantize=True) if network.hasLayer(self.model.output) \
                else network.getFirstTensor(dequantize=True)
            return network_output_to_depth(raw, (self.model.height, self.model.width), bgr.shape[:2])

        def send_results(self, depth: np.ndarray, frame: Any) -> None:
            message = dai.NNData()
            message.addTensor(OUTPUT_NAME, depth)
            self.depth.send(stamped(message, frame))
            self.frame.send(frame)
            picture = dai.ImgFrame()
            picture.setCvFrame(cv2.cvtColor(depth_picture(depth, self.cmap, invert=self.metric), cv2.COLOR_RGB2BGR),
                               dai.ImgFrame.Type.BGR888i)
            self.picture.send(stamped(picture, frame))

        def process(self, network, frame):  # unannotated: depthai builds link_args from this signature
            self.send_results(self.network_depth(network, _bgr_frame(frame)), frame)

    class StereoAlignHost(DepthHost):
        """DepthHost that also takes the camera's stereo depth (uint16 mm, aligned to the colour camera) and
        sends dense metric depth: the network's map aligned to the stereo in disparity, per frame, with the
        fit smoothed over time (`TemporalAlignment`; frames without enough stereo reuse the last fit), and,
        with `fill` (the default), the stereo itself where it measured: the aligned map fills its holes."""

        def build(self, network_output: Any, frames: Any, stereo: Any, model: ArchiveModel, cmap: str = DEFAULT_CMAP,
                  momentum: float = STEREO_ALIGN_MOMENTUM, fill: bool = True) -> StereoAlignHost:
            self.link_args(network_output, frames, stereo)
            self.model, self.cmap, self.metric, self.fill = model, cmap, True, fill
            self.alignment = TemporalAlignment(momentum, "depth" if model.spec.is_metric else "disparity")
            self.fits = 0
            return self

        def process(self, network, frame, stereo):  # unannotated: depthai builds link_args from this signature
            bgr = _bgr_frame(frame)
            prediction = self.network_depth(network, bgr)
            measured = _stereo_metres(stereo, bgr.shape[:2])
            try:
                aligned = self.alignment(prediction, measured)
            except ValueError:  # no frame so far had enough stereo points: nothing metric to send yet
                return
            self.fits += int(aligned.fitted)
            self.send_results(fill_holes(measured, aligned.depth) if self.fill else aligned.depth, frame)

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
            self.out_network.send(stamped(message, frame))

    return DepthHost, HostNetwork, StereoAlignHost


def block_host_inputs(*nodes: Any, size: int = REPLAY_QUEUE) -> None:
    """Make every input of these host nodes blocking (`size` messages): the sender waits instead of
    dropping, so a replay delivers every frame however slow the network is."""
    for node in nodes:
        for _, queue in node.inputs.items():
            queue.setBlocking(True)
            queue.setMaxSize(size)


def video_frame_count(video: str | os.PathLike) -> int:
    """How many frames a video file holds, counted from its packets (FFmpeg through PyAV, as DepthAI's
    replay decodes it with FFmpeg); `VideoError` naming the file when it has none or cannot be read."""
    av = require_extra("av", "oak")
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            count = sum(1 for packet in container.demux(stream) if packet.size)
    except (av.error.FFmpegError, IndexError, OSError) as exc:
        raise VideoError(f"{video}: not a readable video ({exc or 'no video stream'})") from None
    if not count:
        raise VideoError(f"{video}: the video holds no frames")
    return count


def video_fps(video: str | os.PathLike) -> float | None:
    """The frame rate a video file states, or None."""
    av = require_extra("av", "oak")
    try:
        with av.open(str(video)) as container:
            rate = container.streams.video[0].average_rate or container.streams.video[0].guessed_rate
    except (av.error.FFmpegError, IndexError, OSError):
        return None
    return float(rate) if rate else None


def build_replay_pipeline(
    video: str | os.PathLike, archive: str | os.PathLike, cmap: str = DEFAULT_CMAP, loop: bool = True
) -> OakPipeline:
    """A device-free pipeline: ReplayVideo(video) → HostNetwork(the archive's ONNX on ONNX Runtime) →
    DepthHost, every host input blocking; read it with `depth_frames`, which stops after the file's
    `frame_count` frames.

    `loop=False` is DepthAI's own end of file, which stops the pipeline as soon as the last frame is sent,
    losing the frames still inside the nodes (see the module's docstring): keep the default."""
    dai = require_extra("depthai", "oak")
    from ..inference.runtimes import OnnxRuntime  # the exported-graph runtime (onnx extra)

    depth_host_class, host_network_class, _ = host_node_classes()
    model_name = archive_model_file(archive)
    if not model_name.endswith(".onnx"):
        raise ExportError(f"{archive} holds {model_name}, compiled for a camera; the replay runs the archive's ONNX "
                          "model on the host: use the archive export_nnarchive wrote, before conversion")
    model = archive_model(archive)
    check_network_fits(model, None, archive)
    if not Path(video).is_file():
        raise VideoError(f"{video}: no such video file")
    frame_count = video_frame_count(video)
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
    block_host_inputs(network, host)
    return OakPipeline(pipeline, replay, network, host, frame_count, model.spec.is_metric, video_fps(video))


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


def open_device() -> Any:
    """The first OAK camera DepthAI finds (a `dai.Device`), or a `VideoError` within about a second when
    there is none: DepthAI's own `Pipeline()` searches for 10 s or more before failing."""
    dai = require_extra("depthai", "oak")
    started = time.monotonic()
    devices = dai.Device.getAllAvailableDevices()
    if not devices:
        raise VideoError(
            f"no OAK camera found (DepthAI saw no device on USB or the network in {time.monotonic() - started:.1f} s): "
            "connect one, check its cable and udev rules, or run a recorded video through a replay (replay=VIDEO)")
    try:
        return dai.Device(devices[0])
    except RuntimeError as exc:
        raise VideoError(f"the OAK camera {devices[0].getDeviceId()} was found but cannot be opened ({exc})") from None


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
    stereo: bool = False,
    device: Any = None,
) -> OakPipeline:
    """Colour camera → NeuralNetwork → DepthHost on a connected OAK; read it with `depth_frames`.

    `model_file` is an NN Archive converted for the device (RVC2 .superblob/.blob or RVC4 .dlc inside:
    its config.json still carries this project's depth head), or a bare `.blob`/`.superblob`, for which
    `spec` and `network_size` (height, width) say what it was exported with, and `colour_order` ("BGR"
    or "RGB") and `input_range` (the pixel value range it takes) what it expects: the defaults are what
    modelconverter's blobs take (BGR, 0–255). `preview_size` is (width, height). `stereo`: also run the
    OAK-D's StereoDepth and align the network's depth to it (StereoAlignHost, metres). `device` (default:
    `open_device()`) is the camera; a model compiled for another platform, or an input larger than the
    sensor, is refused before anything runs on it.
    """
    dai = require_extra("depthai", "oak")
    depth_host_class, _, stereo_host_class = host_node_classes()
    path = Path(model_file)
    if pipeline is None:
        device = device if device is not None else open_device()
        pipeline = dai.Pipeline(device)
    device = pipeline.getDefaultDevice()
    platform = device.getPlatform().name
    if path.suffix in (".blob", ".superblob"):
        model, frame_type = bare_blob_model(spec, network_size, colour_order, input_range)
        check_platform(path.name, platform, path)
    else:
        model = archive_model(path)
        check_platform(archive_model_file(path), platform, path)
    sensors = {feature.socket: feature for feature in device.getConnectedCameraFeatures()}
    colour = sensors.get(dai.CameraBoardSocket.CAM_A)
    if colour is None:
        raise VideoError(f"the OAK camera {device.getDeviceId()} has no colour camera on CAM_A")
    check_network_fits(model, (colour.width, colour.height), path)
    if stereo and not {dai.CameraBoardSocket.CAM_B, dai.CameraBoardSocket.CAM_C} <= set(sensors):
        raise VideoError(f"stereo=True needs a stereo OAK (OAK-D: cameras on CAM_B and CAM_C); "
                         f"{device.getDeviceId()} has {', '.join(sorted(s.name for s in sensors))}")
    camera = pipeline.create(dai.node.Camera).build(dai.CameraBoardSocket.CAM_A)
    if path.suffix in (".blob", ".superblob"):
        network = pipeline.create(dai.node.NeuralNetwork)
        network.setModelPath(path)
        frame = getattr(dai.ImgFrame.Type, frame_type)
        camera.requestOutput((model.width, model.height), frame, dai.ImgResizeMode.STRETCH, fps).link(network.input)
    else:
        network = pipeline.create(dai.node.NeuralNetwork).build(camera, dai.NNArchive(path), fps, dai.ImgResizeMode.STRETCH)
    preview = camera.requestOutput(preview_size, dai.ImgFrame.Type.BGR888i, dai.ImgResizeMode.STRETCH, fps)
    if stereo:
        left = pipeline.create(dai.node.Camera).build(dai.CameraBoardSocket.CAM_B)
        right = pipeline.create(dai.node.Camera).build(dai.CameraBoardSocket.CAM_C)
        depth = pipeline.create(dai.node.StereoDepth).build(left.requestOutput((640, 400), fps=fps),
                                                            right.requestOutput((640, 400), fps=fps))
        depth.setDepthAlign(dai.CameraBoardSocket.CAM_A)
        depth.setOutputSize(*preview_size)
        host = pipeline.create(stereo_host_class).build(network.out, preview, depth.depth, model, cmap)
    else:
        host = pipeline.create(depth_host_class).build(network.out, preview, model, cmap)
    return OakPipeline(pipeline, camera, network, host, None, stereo or model.spec.is_metric, fps)


@dataclass
class OakFrame:
    """One result of a pipeline: the colour frame (RGB uint8) and its depth (float32, the frame's size)."""

    index: int
    image: np.ndarray
    depth: np.ndarray


class PipelineStopped(VideoError):
    """The pipeline ended before delivering what was asked (a camera unplugged, a node failed); `frames`
    says how many results came before."""

    def __init__(self, message: str, frames: int) -> None:
        super().__init__(message)
        self.frames = frames


def depth_frames(built: OakPipeline, max_frames: int | None = None) -> Iterator[OakFrame]:
    """Start `built` and yield its results in order until a replay's `frame_count` (or `max_frames`) have
    come, or forever from a live camera; then stop the pipeline. Replays read blocking queues (every frame),
    cameras non-blocking ones (a slow reader gets the newest frames). A pipeline that stops early (camera
    unplugged) raises `PipelineStopped` after the results it did deliver."""
    dai = require_extra("depthai", "oak")
    replay = built.frame_count is not None
    wanted = min(x for x in (built.frame_count, max_frames) if x is not None) if (replay or max_frames) else None
    size = REPLAY_QUEUE if replay else CAMERA_QUEUE
    depth_queue = built.host.depth.createOutputQueue(size, replay)
    frame_queue = built.host.frame.createOutputQueue(size, replay)
    delivered = 0
    built.pipeline.start()
    try:
        while wanted is None or delivered < wanted:
            try:
                depth_message, frame_message = depth_queue.get(), frame_queue.get()
            except (RuntimeError, dai.MessageQueue.QueueException) as exc:
                source = "the replay" if replay else "the camera"
                raise PipelineStopped(
                    f"{source} stopped after {delivered} frame(s) (disconnected or failed: {exc})", delivered
                ) from None
            if replay and depth_message.getSequenceNum() != delivered:  # the replay numbers its frames 0, 1, ...
                raise VideoError(f"the replay's frame {delivered} was lost inside the pipeline (got frame "
                                 f"{depth_message.getSequenceNum()} next); a host input is not blocking")
            rgb = cv2.cvtColor(_bgr_frame(frame_message), cv2.COLOR_BGR2RGB)
            yield OakFrame(delivered, rgb, read_depth_message(depth_message))
            delivered += 1
    finally:
        if built.pipeline.isRunning():
            built.pipeline.stop()
        built.pipeline.wait()


__all__ = [
    "ArchiveModel", "BLOB_COLOUR_ORDER", "BLOB_INPUT_RANGE", "OakFrame", "OakPipeline", "PipelineStopped",
    "archive_input", "archive_model", "archive_model_file", "bare_blob_model", "block_host_inputs",
    "build_camera_pipeline", "build_replay_pipeline", "check_network_fits", "check_platform", "depth_frames",
    "host_node_classes", "input_height_width", "model_platform", "network_output_to_depth", "open_device",
    "read_depth_message", "video_frame_count", "video_fps",
]
