"""OpenVINO IR export (.xml + .bin) from this package's ONNX export, through OpenVINO's core API.

The IR is read from the exact ONNX graph (`export.onnx`) with `openvino.Core.read_model` and written
with `openvino.save_model`: no model-conversion tool runs, and those tools are what send OpenVINO's
telemetry, so none is sent. Weights stay float32 unless `fp16` (stored as float16: the IR that
OpenVINO's MyriadX compile tool takes for OAK's RVC2 devices). The export metadata goes into the IR's
`rt_info` under `depth_anything`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ExportError, require_extra
from ..inference.exported import PREFIX, ExportedModelInfo
from ..inference.runtimes import openvino_metadata
from ..models import DepthAnything
from .onnx import export_onnx, publish, staging_dir


def export_openvino(model: DepthAnything, out: str | os.PathLike, *, fp16: bool = False, **options: Any) -> ExportedModelInfo:
    """Write `model` as OpenVINO IR: `out` (.xml) and the .bin beside it, atomically. `options` are
    `export_onnx`'s (size, dynamic, batch, opset, source); `fp16` stores the IR's weights as float16."""
    require_extra("openvino", "openvino")
    out = Path(out)
    _check_suffix(out)
    with staging_dir(out) as stage:
        onnx_file = stage / "model.onnx"
        export_onnx(model, onnx_file, fp16=False, **options)
        return onnx_to_openvino(onnx_file, out, fp16=fp16)


def _check_suffix(out: Path) -> None:
    if out.suffix.lower() != ".xml":
        raise ExportError(f"--format openvino writes an .xml file (with its .bin beside it); got --out {out}")


def onnx_to_openvino(onnx_file: str | os.PathLike, out: str | os.PathLike, fp16: bool = False) -> ExportedModelInfo:
    """IR (`out` .xml + .bin, atomically) from an ONNX file written by `export_onnx`, metadata carried over."""
    ov = require_extra("openvino", "openvino")
    out = Path(out)
    _check_suffix(out)
    ov_model = ov.Core().read_model(str(onnx_file))
    info = ExportedModelInfo.from_metadata(openvino_metadata(ov_model), onnx_file)
    if fp16:
        info = ExportedModelInfo(info.input_spec, info.model_config, info.height, info.width, info.batch, "fp16", info.source)
    for key, value in info.to_metadata().items():
        ov_model.set_rt_info(value, ["depth_anything", key[len(PREFIX):]])
    with staging_dir(out) as stage:
        ov.save_model(ov_model, str(stage / out.name), compress_to_fp16=fp16)
        publish(stage, out, [out.with_suffix(".bin").name, out.name])
    return info


__all__ = ["export_openvino", "onnx_to_openvino"]
