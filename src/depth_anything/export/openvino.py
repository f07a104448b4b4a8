"""OpenVINO IR export (.xml + .bin) from this package's ONNX export, through OpenVINO's core API.

The IR is read from the exact ONNX graph (`export.onnx`) with `openvino.Core.read_model` and written
with `openvino.save_model`: no model-conversion tool runs, and those tools are what send OpenVINO's
telemetry, so none is sent. Weights stay float32 unless `fp16` (stored as float16). With
`target="rvc2"` the IR is made from the primitive-op ONNX graph (`export.onnx`) and holds only
operations of opsets 1–8, which OpenVINO 2022.3.0 (OAK RVC2's compiler line) reads; other targets' IRs
may use newer operation sets (Interpolate-11) that 2022.3.0 refuses. The export metadata goes into the IR's
`rt_info` under `depth_anything`. With `int8` (True, or an `Int8Options` naming the calibration) the
model is quantized with NNCF before saving (`export.quantize`: post-training, calibrated on real
photos) and its metadata says "int8".
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ExportError, require_extra
from ..inference.exported import PREFIX, ExportedModelInfo
from ..inference.runtimes import openvino_metadata
from ..models import DepthAnything
from .onnx import export_onnx, publish, staging_dir
from .quantize import (
    DEFAULT_CALIBRATION_SIZE,
    DEFAULT_PRESET,
    PRESETS,
    CalibrationSource,
    calibration_inputs,
    calibration_photos,
    import_nncf,
    quantize_openvino,
)

# Measured with OpenVINO 2026.4 on the CPU plugin: the same NNCF-quantized graph gives depth maps
# uncorrelated with f32 when its batch or size is dynamic, and the right ones once reshaped static.
DYNAMIC_INT8 = (
    "int8=True makes static files only (no dynamic=True, no batch='dynamic'): OpenVINO's CPU plugin computes "
    "wrong depth maps from int8 IRs with a dynamic batch or size; export at the size you run with input_size=N "
    "or height=H and width=W (the same photos' aspect) and a fixed batch=N"
)


@dataclass(frozen=True)
class Int8Options:
    """How an int8 export is calibrated: `calibration_size` inputs made from the photos `calibration`
    (image files, folders, list files or glob patterns; None: the real photos installed packages ship),
    quantized with NNCF's `preset` (one of `quantize.PRESETS`). `int8=True` means these defaults."""

    calibration: CalibrationSource = None
    calibration_size: int = DEFAULT_CALIBRATION_SIZE
    preset: str = DEFAULT_PRESET


_INT8_FIELDS = ("calibration", "calibration_size", "preset")


def export_openvino(
    model: DepthAnything,
    out: str | os.PathLike,
    *,
    fp16: bool = False,
    int8: bool | Int8Options = False,
    **options: Any,
) -> ExportedModelInfo:
    """Write `model` as OpenVINO IR: `out` (.xml) and the .bin beside it, atomically. `options` are
    `export_onnx`'s (size, dynamic, batch, opset, source, target); `fp16` stores the IR's weights as float16;
    `int8` (True for the defaults, or an `Int8Options`) quantizes it with NNCF, calibrated on real photos."""
    loose = [key for key in _INT8_FIELDS if key in options]
    if loose:  # the keywords these settings once were
        given = ", ".join(f"{key}=..." for key in loose)
        raise TypeError(f"export_openvino: int8 settings go in int8=Int8Options({given}), not beside int8")
    require_extra("openvino", "openvino")
    out = Path(out)
    _check_suffix(out)
    # before the slow export; the calibration comes back resolved to its photos
    settings = check_int8_options(fp16, int8, options.get("dynamic", False), options.get("batch", 1))
    if settings is not None and options.get("target", "generic") != "generic":
        raise ExportError(f"int8=True quantizes a host IR with NNCF; target={options['target']!r} devices are "
                          "compiled by Luxonis' converter, which quantizes itself")
    with staging_dir(out) as stage:
        onnx_file = stage / "model.onnx"
        export_onnx(model, onnx_file, fp16=False, **options)
        return onnx_to_openvino(onnx_file, out, fp16=fp16, int8=settings or False)


def check_int8_options(
    fp16: bool, int8: bool | Int8Options, dynamic: bool = False, batch: int | str | None = 1,
) -> Int8Options | None:
    """The settings of an int8 export (True: the defaults) with `calibration` resolved to its photos, None
    when `int8` is False, or an error naming the conflicting option; cheap, so callers run it before
    loading or exporting a model."""
    if int8 is True:
        int8 = Int8Options()
    elif int8 is False:
        return None
    elif not isinstance(int8, Int8Options):
        raise TypeError(f"int8 must be True, False or an Int8Options, got {int8!r}")
    if dynamic or batch in (None, "dynamic"):
        raise ExportError(DYNAMIC_INT8)
    if fp16:
        raise ExportError("int8=True and fp16=True exclude each other: an int8 IR keeps float32 weights where it "
                          "is not quantized; choose one")
    if int8.calibration_size < 1:
        raise ExportError(f"calibration_size={int8.calibration_size}: give at least 1")
    if int8.preset not in PRESETS:
        raise ExportError(f"int8 preset must be one of {', '.join(PRESETS)}, got {int8.preset!r}")
    import_nncf()  # a missing nncf fails here, not after the export
    return replace(int8, calibration=tuple(calibration_photos(int8.calibration)))


def _check_suffix(out: Path) -> None:
    if out.suffix.lower() != ".xml":
        raise ExportError(f"an OpenVINO IR is an .xml file (with its .bin beside it); got out={out}")


def onnx_to_openvino(
    onnx_file: str | os.PathLike,
    out: str | os.PathLike,
    fp16: bool = False,
    *,
    int8: bool | Int8Options = False,
) -> ExportedModelInfo:
    """IR (`out` .xml + .bin, atomically) from an ONNX file written by `export_onnx`, metadata carried
    over; `int8` quantizes it first (see `export_openvino`)."""
    ov = require_extra("openvino", "openvino")
    out = Path(out)
    _check_suffix(out)
    settings = check_int8_options(fp16, int8)
    ov_model = ov.Core().read_model(str(onnx_file))
    info = ExportedModelInfo.from_metadata(openvino_metadata(ov_model), onnx_file)
    if settings is not None:
        if info.dynamic_size or info.batch is None:
            raise ExportError(f"{onnx_file}: {DYNAMIC_INT8}")
        inputs = calibration_inputs(settings.calibration or [], info, settings.calibration_size)
        ov_model = quantize_openvino(ov_model, inputs, settings.preset)
    if fp16 or settings is not None:
        info = replace(info, precision="int8" if settings is not None else "fp16")
    for key, value in info.to_metadata().items():
        ov_model.set_rt_info(value, ["depth_anything", key[len(PREFIX):]])
    with staging_dir(out) as stage:
        ov.save_model(ov_model, str(stage / out.name), compress_to_fp16=fp16)
        publish(stage, out, [out.with_suffix(".bin").name, out.name])
    return info


__all__ = ["Int8Options", "check_int8_options", "export_openvino", "onnx_to_openvino"]
