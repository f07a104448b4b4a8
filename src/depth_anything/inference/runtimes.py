"""Runtimes: each maps a preprocessed batch to the network's raw output, and nothing else.

A runtime knows nothing about images. The `Predictor` reads, preprocesses, batches, resizes back and
reports; `TorchRuntime` runs a `DepthAnything` module, `OnnxRuntime` and `OpenVINORuntime` run a file
written by `depth-anything export`, whose graph normalises its own input (see `exported`), so they
declare `normalized_input = False` and the Predictor's one preprocessing hands them the [0, 1] image.
Only `TorchRuntime` needs torch, and it is the only one that imports it: the others start without it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ..errors import ExportError, require_extra
from ..runtime import dtype_key, resolve_device, resolve_dtype
from ..transforms import InputSpec
from .exported import INPUT_NAME, PREFIX, ExportedModelInfo

if TYPE_CHECKING:
    import torch

    from ..models import DepthAnything


def as_numpy(output: np.ndarray | torch.Tensor) -> np.ndarray:
    """A runtime's output as a float32 numpy array (a torch tensor is moved to the CPU)."""
    if isinstance(output, np.ndarray):
        return output if output.dtype == np.float32 else output.astype(np.float32)
    return output.detach().float().cpu().numpy()


@runtime_checkable
class Runtime(Protocol):
    """[B, 3, h, w] float32 batch → [B, h, w] float32 raw depth/disparity: a torch tensor from
    `TorchRuntime` (on its device), a numpy array from the others (`as_numpy` turns either into numpy).

    The batch is mean/std-normalised when `normalized_input` is True, else RGB in [0, 1] (exported
    graphs normalise inside); `transforms.preprocess(..., normalize=runtime.normalized_input)` makes it.
    """

    name: str
    input_spec: InputSpec
    normalized_input: bool

    def run(self, batch: np.ndarray) -> np.ndarray | torch.Tensor: ...


class TorchRuntime:
    """A PyTorch `DepthAnything` under inference mode.

    The model is moved at most once: with no `device` or `dtype` asked it stays where and as it is
    (a CPU model stays on the CPU).
    """

    name = "torch"
    normalized_input = True

    def __init__(
        self, model: DepthAnything, device: str | torch.device | None = None, dtype: str | torch.dtype | None = None
    ) -> None:
        parameter = next(model.parameters())
        self.device = resolve_device(device) if device is not None else parameter.device
        self.dtype = resolve_dtype(dtype) if dtype is not None else parameter.dtype
        if (parameter.device, parameter.dtype) != (self.device, self.dtype):
            model = model.to(device=self.device, dtype=self.dtype)
        self.model = model.eval()
        self.input_spec = model.input_spec

    def run(self, batch: np.ndarray) -> torch.Tensor:
        import torch

        with torch.inference_mode():
            tensor = torch.from_numpy(batch).to(device=self.device, dtype=self.dtype)
            return self.model(tensor).float()

    def __repr__(self) -> str:
        return f"TorchRuntime({self.model.config.encoder}, device={self.device}, dtype={self.dtype})"


BACKENDS = ("torch", "onnxruntime", "openvino")
EXPORTED_SUFFIXES = {".onnx": "onnxruntime or openvino", ".xml": "openvino"}
# OpenVINO's CPU default on bf16-capable processors is bf16 (about 0.3 error on a depth map): f32 unless asked
OPENVINO_PRECISIONS = {"fp32": "f32", "fp16": "f16", "bf16": "bf16"}


def default_threads(threads: int | None) -> int | None:
    """`threads`, else $OMP_NUM_THREADS when set to a positive number (what torch obeys; ONNX Runtime and
    OpenVINO ignore it, so a job limited to N threads would otherwise take every core), else None."""
    if threads is not None:
        return threads
    try:
        value = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return value if value > 0 else None


# how long ONNX Runtime's idle pool threads spin before they sleep (its default spins for much longer)
ORT_SPIN_MICROSECONDS = 20


def ort_session_options(ort: Any, threads: int | None = None) -> Any:
    """ONNX Runtime session options with this package's thread policy: `threads` (else $OMP_NUM_THREADS,
    else every core) and a short spin of idle pool threads.

    After each operation ONNX Runtime's pool threads spin, waiting for the next one, and by default
    they keep spinning long after a run ends, taking the cores that read, preprocess and write images
    beside the network. Measured with the built-in model in `predict`'s loop on a 2-core Xeon
    (benchmarks/pipeline_speed.py, interleaved rounds): a 20 µs spin gives 8 % more images/s than the
    default, where turning spinning off gives 3 % more and costs the network alone 10 %. (ONNX Runtime
    releases older than the setting ignore the key: they keep their default spin.)
    """
    options = ort.SessionOptions()
    threads = default_threads(threads)
    if threads is not None:
        options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.spin_duration_us", str(ORT_SPIN_MICROSECONDS))
    return options


def device_kind(device: str | torch.device | None) -> str:
    """"cpu", "cuda", "mps", ... of a device name or torch device (None: "cpu"), without importing torch."""
    return "cpu" if device is None else str(device).split(":")[0].lower()


def _exported_file(path: str | os.PathLike, backend: str, suffixes: tuple[str, ...]) -> Path:
    file = Path(path)
    if not file.is_file():
        raise ExportError(f"backend={backend}: {file} does not exist; write one with `depth_anything.export` "
                          "(`depth-anything export`)")
    if file.suffix.lower() not in suffixes:
        hint = EXPORTED_SUFFIXES.get(file.suffix.lower())
        what = f"a file for backend={hint}" if hint else "not an exported model"
        raise ExportError(
            f"backend={backend} runs {' or '.join(suffixes)} files; {file} is {what}"
            + ("" if hint else " (a checkpoint runs with backend=torch)")
        )
    return file


def _run_in_chunks(info: ExportedModelInfo, batch: np.ndarray, run) -> np.ndarray:
    """Feed a static-batch file exactly its batch size (the last chunk padded by repeating its last image)."""
    if info.batch is None or batch.shape[0] == info.batch:
        return run(batch)
    outputs = []
    for start in range(0, batch.shape[0], info.batch):
        chunk = batch[start : start + info.batch]
        count = chunk.shape[0]
        if count < info.batch:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], info.batch - count, axis=0)])
        outputs.append(run(chunk)[:count])
    return np.concatenate(outputs)


class OnnxRuntime:
    """An exported ONNX file under ONNX Runtime (CPU; `device="cuda"` with onnxruntime-gpu)."""

    name = "onnxruntime"
    normalized_input = False

    def __init__(
        self, path: str | os.PathLike, device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None, threads: int | None = None,
    ) -> None:
        ort = require_extra("onnxruntime", "onnx")
        self.path = _exported_file(path, self.name, (".onnx",))
        providers = self._providers(ort, device)
        options = ort_session_options(ort, threads)
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ExportError(f"onnxruntime cannot load {self.path}: {exc}") from exc
        self.info = ExportedModelInfo.from_metadata(self.session.get_modelmeta().custom_metadata_map, self.path)
        stored = "fp16" if self.info.precision == "fp16" else "fp32"
        wanted = None if dtype is None else dtype_key(dtype)
        if wanted is not None and wanted != stored:
            raise ExportError(
                f"{self.path} computes in {self.info.precision}; an ONNX file runs in the precision it was exported "
                f"with, so drop dtype= or export again{' with fp16=True' if wanted == 'fp16' else ' without fp16=True'}"
            )
        self.input_spec = self.info.input_spec
        self.device = "cuda" if "CUDAExecutionProvider" in providers else "cpu"
        self.dtype = stored

    @staticmethod
    def _providers(ort: Any, device: str | torch.device | None) -> list[str]:
        kind = device_kind(device)
        if kind == "cpu":
            return ["CPUExecutionProvider"]
        if kind == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ExportError("device=cuda with onnxruntime needs the onnxruntime-gpu package (pip install "
                                  "onnxruntime-gpu)")
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        raise ExportError(f"backend=onnxruntime runs on cpu or cuda, not {kind}")

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.info.check_batch_shape(batch.shape, self.path)
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        out = _run_in_chunks(self.info, batch, lambda x: self.session.run(None, {INPUT_NAME: x})[0])
        return np.asarray(out, dtype=np.float32)

    def __repr__(self) -> str:
        return f"OnnxRuntime({self.path}, {self.info.size_text}, {self.info.precision})"


def openvino_metadata(model: Any) -> dict[str, str]:
    """Export metadata of an OpenVINO model: the `depth_anything` rt_info section that export writes into
    the IR, else what OpenVINO's ONNX reader kept of the ONNX metadata (`framework`)."""
    values: dict[str, str] = {}
    for section, prefixed in (("framework", True), ("depth_anything", False)):
        if not model.has_rt_info([section]):
            continue
        entries = model.get_rt_info([section]).astype(dict)
        for key, value in entries.items():
            key = key if prefixed else PREFIX + key
            if key.startswith(PREFIX):
                values[key] = value.astype(str) if hasattr(value, "astype") else str(value)
    return values


class OpenVINORuntime:
    """An exported OpenVINO IR (.xml + .bin) or ONNX file under OpenVINO (CPU by default).

    Inference precision is f32 unless `dtype` asks for fp16/bf16: OpenVINO's own CPU default on
    processors with bf16 support is bf16, which moves a depth map by about 0.3.
    """

    name = "openvino"
    normalized_input = False

    def __init__(
        self, path: str | os.PathLike, device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None, threads: int | None = None,
    ) -> None:
        ov = require_extra("openvino", "openvino")
        self.path = _exported_file(path, self.name, (".xml", ".onnx"))
        core = ov.Core()
        try:
            model = core.read_model(str(self.path))
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own
            raise ExportError(f"openvino cannot read {self.path}: {exc}") from exc
        self.info = ExportedModelInfo.from_metadata(openvino_metadata(model), self.path)
        self.input_spec = self.info.input_spec
        self.precision = OPENVINO_PRECISIONS[dtype_key(dtype)]
        self.ov_device = device_kind(device).upper()
        # LATENCY: one stream over all threads, what a single request at a time wants (measured 7% faster
        # than the default on vits, 354 vs 383 ms on 2 cores)
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": self.precision, "PERFORMANCE_HINT": "LATENCY"}
        threads = default_threads(threads)
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            self.compiled = core.compile_model(model, self.ov_device, config)
        except Exception as exc:
            raise ExportError(f"openvino cannot compile {self.path} for {self.ov_device}: {exc}") from exc
        self.request = self.compiled.create_infer_request()
        # one infer request runs one inference at a time ("Infer Request is busy" otherwise), while torch
        # and ONNX Runtime may be called from several threads (a server's warm-up and its batches)
        self._request_lock = threading.Lock()
        self.device = device_kind(device)
        self.dtype = dtype_key(dtype)

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.info.check_batch_shape(batch.shape, self.path)
        batch = np.ascontiguousarray(batch, dtype=np.float32)

        def infer(x: np.ndarray) -> np.ndarray:
            with self._request_lock:
                return np.array(self.request.infer({INPUT_NAME: x})[self.compiled.output(0)], dtype=np.float32)

        return _run_in_chunks(self.info, batch, infer)

    def __repr__(self) -> str:
        precision = f"int8, {self.precision} elsewhere" if self.info.precision == "int8" else self.precision
        return f"OpenVINORuntime({self.path}, {self.info.size_text}, {self.ov_device}, {precision})"


def open_runtime(
    backend: str, path: str | os.PathLike, device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None, input_size: int | None = None,
) -> Runtime:
    """The runtime of an exported file for `backend` (onnxruntime, openvino); refuses an `input_size`
    that the file's static shape cannot run."""
    classes = {"onnxruntime": OnnxRuntime, "openvino": OpenVINORuntime}
    if backend not in classes:
        raise ValueError(f"open_runtime opens exported files for {', '.join(classes)}, not {backend!r}")
    runtime = classes[backend](path, device=device, dtype=dtype)
    runtime.info.check_input_size(input_size, runtime.path)
    return runtime


__all__ = [
    "BACKENDS", "OnnxRuntime", "OpenVINORuntime", "Runtime", "TorchRuntime", "as_numpy", "default_threads", "device_kind",
    "open_runtime", "openvino_metadata",
]
