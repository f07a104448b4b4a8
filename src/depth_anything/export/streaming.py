"""Streaming temporal models as ONNX with the cached attention states as explicit graph inputs and outputs.

Video Depth Anything's streaming mode (`inference.video_windows.StreamingVideoDepth`) runs one frame at a
time: the first frame alone, then each frame attending over the cached inputs of 31 earlier entries per
temporal attention layer (8 layers: 4 motion modules × 2). Both steps are exported, each a static graph:

- `OUT` (the first frame): input `image` [1, 3, H, W] RGB in [0, 1] → `depth` [1, 1, H, W] and
  `present_0` … `present_7`, the frame's attention inputs [h·w, 1, C] of each layer;
- `OUT` with `.step` before its suffix (every later frame): `image` and `past_0` … `past_7` [h·w, 31, C]
  (the cached entries, concatenated over frames) → `depth` and `present_0` … `present_7`.

Which entries are cached, and which are dropped, stays on the host (`StreamingVideoDepth`), so the
exported pair computes exactly what the PyTorch model computes (to float32 rounding). ONNX Runtime runs
it (`ExportedStreamingModel`); the metadata of both files says which step each is.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ExportError, require_extra
from ..inference.exported import INPUT_NAME, OUTPUT_NAME, PREFIX, ExportedModelInfo
from ..inference.runtimes import ort_session_options
from ..inference.video_windows import WINDOW
from . import DEFAULT_OPSET
from .onnx import (
    _quiet_exporter,
    check_onnx,
    exportable,
    exported_spec,
    is_temporal,
    publish,
    resolve_shape,
    staging_dir,
)

log = logging.getLogger(__name__)

PAST = WINDOW - 1  # cached entries each later frame attends over (the first, one old, the 29 newest)
STREAMING_KEY = PREFIX + "streaming"  # "first" or "step"
STEP_FILE_KEY = PREFIX + "streaming_step"  # the first graph names its step graph (same folder)
STATES_KEY = PREFIX + "streaming_states"  # JSON: [[h·w, C], ...] per attention layer


def step_path(out: str | os.PathLike) -> Path:
    """The step graph's file beside the first-frame graph `out` (`stream.onnx` → `stream.step.onnx`)."""
    out = Path(out)
    return out.with_name(f"{out.stem}.step{out.suffix}")


class _StreamGraph(nn.Module):
    """One streaming step: RGB [1, 3, H, W] in [0, 1] (and the past states) → depth and present states."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        spec = model.input_spec
        self.model = model
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor, *past: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = (image - self.mean) / self.std
        size = (int(x.shape[-2]), int(x.shape[-1]))
        depth, present = self.model.decode(self.model.encode(x), 1, size, list(past) if past else None)
        return (depth, *present)


def export_streaming_onnx(
    model: nn.Module,
    out: str | os.PathLike,
    *,
    input_size: int | None = None,
    height: int | None = None,
    width: int | None = None,
    opset: int | None = None,
    source: str = "",
) -> ExportedModelInfo:
    """Write the streaming pair of a temporal model: `out` (first frame) and `step_path(out)` (later frames),
    static at the model's input size (or `input_size` square, or `height`×`width`), float32, batch 1."""
    require_extra("onnx", "onnx")
    require_extra("onnxscript", "onnx")
    if not is_temporal(model):
        raise ExportError("streaming export is for temporal (Video Depth Anything) models; this is an image model")
    opset = DEFAULT_OPSET if opset is None else int(opset)
    out = Path(out)
    shape = resolve_shape(model, input_size, height, width, False, 1)
    network = model.eval()
    graph = _StreamGraph(network).eval()
    image = torch.rand(shape.example, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        present = graph(image)[1:]
    states = [[int(t.shape[0]), int(t.shape[2])] for t in present]
    past = tuple(t.expand(-1, PAST, -1).contiguous() for t in present)
    info = ExportedModelInfo(exported_spec(model, shape), model.config.to_dict(), shape.height, shape.width, 1,
                             "fp32", str(source))
    outputs = [OUTPUT_NAME] + [f"present_{i}" for i in range(len(present))]
    steps = {out.name: ("first", (image,), [INPUT_NAME]),
             step_path(out).name: ("step", (image, *past), [INPUT_NAME] + [f"past_{i}" for i in range(len(past))])}
    with staging_dir(out) as stage:
        for name, (kind, example, inputs) in steps.items():
            with exportable(network), torch.no_grad(), _quiet_exporter():
                try:
                    program = torch.onnx.export(graph, example, input_names=inputs, output_names=outputs,
                                                opset_version=opset, dynamo=True, verbose=False)
                except Exception as exc:  # torch's exporter raises many kinds; say which step failed
                    raise ExportError(f"torch.onnx.export failed for the streaming {kind} graph at "
                                      f"{shape.example}: {exc}") from exc
            metadata = {**info.to_metadata(), STREAMING_KEY: kind, STATES_KEY: json.dumps(states)}
            if kind == "first":
                metadata[STEP_FILE_KEY] = step_path(out).name
            for key, value in metadata.items():
                program.model.metadata_props[key] = value
            program.model.producer_name = "depth-anything"
            program.save(stage / name)
            check_onnx(stage / name)
        publish(stage, out, sorted(p.name for p in stage.iterdir()))
    log.info("exported the streaming pair %s and %s (%s)", out, step_path(out), info.size_text)
    return info


def streaming_kind(path: str | os.PathLike) -> str | None:
    """"first" or "step" for a streaming graph written by `export_streaming_onnx`, else None."""
    onnx = require_extra("onnx", "onnx")
    proto = onnx.load(str(path), load_external_data=False)
    return next((p.value for p in proto.metadata_props if p.key == STREAMING_KEY), None)


def _session(ort: Any, options: Any, path: Path) -> Any:
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ExportError(f"onnxruntime cannot load {path}: {exc}") from exc


class ExportedStreamingModel:
    """The exported streaming pair under ONNX Runtime, in the shape `StreamingVideoDepth` calls:
    `stream_step(x, past)` with a prepared frame [3, h, w] (RGB in [0, 1]) and the past states or None."""

    normalized_input = False

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        ort = require_extra("onnxruntime", "onnx")
        self.path = Path(path)
        options = ort_session_options(ort, threads)
        first = _session(ort, options, self.path)
        metadata = first.get_modelmeta().custom_metadata_map
        if metadata.get(STREAMING_KEY) != "first" or STEP_FILE_KEY not in metadata:
            raise ExportError(f"{self.path} is not the first graph of a streaming pair ({STREAMING_KEY} is "
                              f"{metadata.get(STREAMING_KEY)!r}); export one with streaming=True")
        step_file = self.path.with_name(metadata[STEP_FILE_KEY])
        if not step_file.is_file():
            raise ExportError(f"{self.path} names its step graph {step_file}, which does not exist")
        self.info = ExportedModelInfo.from_metadata(metadata, self.path)
        self.input_spec = self.info.input_spec
        self.sessions = {"first": first, "step": _session(ort, options, step_file)}

    @property
    def metric(self) -> bool:
        return self.input_spec.is_metric

    def stream_step(self, x: torch.Tensor, past: list[torch.Tensor] | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Depth [1, 1, h, w] and the present states of one frame (see the module docstring)."""
        self.info.check_batch_shape((1, *x.shape), self.path)
        feed: dict[str, Any] = {INPUT_NAME: x[None].cpu().numpy()}
        if past is not None:
            feed |= {f"past_{i}": state.cpu().numpy() for i, state in enumerate(past)}
        outputs = self.sessions["first" if past is None else "step"].run(None, feed)
        return torch.from_numpy(outputs[0]), [torch.from_numpy(state) for state in outputs[1:]]

    def __repr__(self) -> str:
        return f"ExportedStreamingModel({self.path} + {step_path(self.path).name}, {self.info.size_text})"


__all__ = ["ExportedStreamingModel", "export_streaming_onnx", "step_path", "streaming_kind"]
