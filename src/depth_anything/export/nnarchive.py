"""Luxonis NN Archive export: the ONNX model at a static size for an OAK camera, plus its `config.json`,
built and validated with `luxonis_ml.nn_archive` (the schema DepthAI and Luxonis' converter read).

The archive holds the same exact ONNX graph as `--format onnx` (batch 1, static size), whose input is
RGB float32 NCHW in [0, 1]. The config's preprocessing says so in the archive's terms: the camera's
8-bit frame x becomes (x − mean) / scale with mean 0 and scale 255 per channel, planar RGB
(`dai_type` RGB888p), frames stretched to the network size. Luxonis' converter bakes that step into
the compiled model, and the graph itself then applies the weights' ImageNet mean/std. The head is a
`MapOutputParser` over the `depth` output [1, H, W], with this project's output kind and unit in its
metadata.

Targets (`target=`), for Luxonis' modelconverter (`modelconverter convert rvc2|rvc4 --path ARCHIVE`):
- "rvc2": the ONNX graph OpenVINO 2022.3.0 reads (see `export.onnx`), 18×24 patches (252×336 at patch 14).
- "rvc4": 30×40 patches (420×560 at patch 14). modelconverter's RVC4 default quantizes to INT8 and,
  without calibration data, calibrates on 20 images of random noise. So this target states its
  precision: float16 (`fp16=True`: convert with `rvc4.quantization_mode FP16_STANDARD`), or int8
  (the default) with real calibration photos written beside the archive (`<name>.calibration/`, PNG at
  the network size: the shipped sample photos or `int8=Int8Options(calibration=...)`), to pass as
  `calibration.path`.
- "generic": 18×24 patches, the dynamo exporter's opset-18 graph (for RVC4 or a host).
The sizes are exact 4:3 (the OAK colour sensors' aspect); `height`/`width` choose another multiple of
the patch size. No frames-per-second figure on a camera was measured here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ExportError, require_extra
from ..inference.exported import INPUT_NAME, OUTPUT_NAME, ExportedModelInfo, output_unit
from ..models import DepthAnything
from . import TARGET_GRIDS
from .onnx import export_onnx, publish, resolve_opset, staging_dir

NNARCHIVE_GRID = TARGET_GRIDS["generic"]  # patches (height, width): 4:3
NNARCHIVE_SIZE = (18 * 14, 24 * 14)  # 252×336 for the published models' patch 14
ARCHIVE_MODEL_FILE = "depth_anything.onnx"
COMPRESSIONS = {".tar.xz": "xz", ".tar.gz": "gz"}


def _compression(out: Path) -> str:
    for suffix, kind in COMPRESSIONS.items():
        if out.name.endswith(suffix):
            return kind
    raise ExportError(f"an NN Archive is a .tar.xz or .tar.gz file; got out={out}")


PRECISIONS = {"fp32": "float32", "fp16": "float16", "int8": "int8"}


def nnarchive_config(info: ExportedModelInfo, name: str, target: str = "generic", precision: str | None = None) -> dict[str, Any]:
    """The archive's `config.json` (NN Archive config version 1.0) for an exported static model;
    `precision` ("fp32", "fp16", "int8"; default the file's) is what the converted model should be."""
    spec = info.input_spec
    if info.height is None or info.width is None or info.batch != 1:
        raise ExportError("an NN Archive holds a static model with batch 1")
    precision = precision or info.precision
    if precision not in PRECISIONS:
        raise ExportError(f"precision={precision!r}: choose one of {', '.join(PRECISIONS)}")
    return {
        "config_version": "1.0",
        "model": {
            "metadata": {"name": name, "path": ARCHIVE_MODEL_FILE, "precision": PRECISIONS[precision]},
            "inputs": [{
                "name": INPUT_NAME, "dtype": "float32", "input_type": "image",
                "shape": [1, 3, info.height, info.width], "layout": "NCHW",
                "preprocessing": {
                    "mean": [0.0, 0.0, 0.0], "scale": [255.0, 255.0, 255.0],
                    "dai_type": "RGB888p", "resize_mode": "STRETCH",
                },
            }],
            "outputs": [{"name": OUTPUT_NAME, "dtype": "float32", "shape": [1, info.height, info.width], "layout": "NHW"}],
            "heads": [{
                "name": "depth", "parser": "MapOutputParser", "outputs": [OUTPUT_NAME],
                "metadata": {
                    "postprocessor_path": None,
                    "min_max_scaling": not spec.is_metric,
                    "output_kind": spec.output, "unit": output_unit(spec), "max_depth": spec.max_depth,
                    "normalization_in_graph": {"mean": list(spec.mean), "std": list(spec.std)},
                    "input_spec": spec.to_dict(),
                    "target": target,
                },
            }],
        },
    }


def validate_config(config: dict[str, Any]) -> Any:
    """The config parsed by luxonis-ml's schema (`luxonis_ml.nn_archive.Config`); errors name the field."""
    archive = require_extra("luxonis_ml.nn_archive", "oak")
    try:
        return archive.Config(**config)
    except Exception as exc:  # pydantic's ValidationError
        raise ExportError(f"NN Archive config does not validate: {exc}") from exc


def export_nnarchive(
    model: DepthAnything,
    out: str | os.PathLike,
    *,
    height: int | None = None,
    width: int | None = None,
    input_size: int | None = None,
    opset: int | None = None,
    fp16: bool = False,
    source: str = "",
    name: str | None = None,
    target: str = "generic",
    int8: Any = None,
) -> ExportedModelInfo:
    """Write an NN Archive (`out`: .tar.xz or .tar.gz) with the ONNX model at a static size (default: the
    target's grid, `TARGET_GRIDS`). For target="rvc4" the archive states float16 (`fp16=True`) or int8
    (default; `int8` True or an `export.openvino.Int8Options` naming the photos) and an int8 archive
    gets its calibration photos in `<name>.calibration/` beside it (see the module notes)."""
    archive = require_extra("luxonis_ml.nn_archive", "oak")
    out = Path(out)
    compression = _compression(out)
    resolve_opset(target, opset, fp16=fp16 and target == "rvc2")  # a wrong target or opset fails before the export
    precision, calibration = _archive_precision(target, fp16, int8)
    if input_size is None and height is None and width is None:
        height, width = (cells * model.config.patch_size for cells in TARGET_GRIDS[target])
    base = out.name[: -len(".tar." + compression)]
    name = name or re.sub(r"[^A-Za-z0-9_.-]+", "-", base) or "depth-anything"
    with staging_dir(out) as stage:
        onnx_file = stage / ARCHIVE_MODEL_FILE
        info = export_onnx(
            model, onnx_file, input_size=input_size, height=height, width=width, dynamic=False, batch=1,
            opset=opset, fp16=fp16 and target != "rvc4", source=source, target=target,
        )
        extras = sorted(p.name for p in stage.iterdir() if p.name != ARCHIVE_MODEL_FILE and not p.name.startswith("."))
        if extras:
            raise ExportError(f"the model's weights do not fit in one ONNX file ({', '.join(extras)}); an NN Archive needs one")
        config = nnarchive_config(info, name, target, precision)
        validate_config(config)
        calibration_folder = out.parent / f"{base}.calibration"
        if calibration is not None:
            write_calibration_photos(stage / calibration_folder.name, info, calibration)
        generator = archive.ArchiveGenerator(
            archive_name=base, save_path=str(stage), cfg_dict=config, executables_paths=[str(onnx_file)],
            compression=compression,
        )
        written = Path(generator.make_archive())
        if written.name != out.name:
            os.replace(written, stage / out.name)
        if calibration is not None:
            if calibration_folder.exists():
                shutil.rmtree(calibration_folder)
            os.replace(stage / calibration_folder.name, calibration_folder)
        publish(stage, out, [out.name])
    return info


def _archive_precision(target: str, fp16: bool, int8: Any) -> tuple[str | None, Any]:
    """(the precision the archive states, the int8 calibration settings or None) for `target`."""
    if target != "rvc4":
        if int8:
            raise ExportError(f"int8 calibration photos go with target='rvc4' (converted by modelconverter's SNPE "
                              f"path); target={target!r} archives are compiled without calibration")
        return None, None
    if fp16 and int8:
        raise ExportError("fp16=True and int8 exclude each other: an RVC4 archive is converted to one precision")
    if fp16:
        return "fp16", None
    if int8 is False:  # asked for neither: float32 (modelconverter's rvc4.disable_calibration)
        return "fp32", None
    from .openvino import Int8Options

    settings = int8 if isinstance(int8, Int8Options) else Int8Options()
    if settings.calibration_size < 1:
        raise ExportError(f"calibration_size={settings.calibration_size}: give at least 1")
    return "int8", settings


def write_calibration_photos(folder: Path, info: ExportedModelInfo, settings: Any) -> list[Path]:
    """PNG photos at the network size (views of real photos, as NNCF's int8 calibration makes them) for
    modelconverter's `calibration.path`, so its INT8 conversion does not calibrate on random noise."""
    from .quantize import calibration_inputs, calibration_photos

    photos = calibration_photos(settings.calibration)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for k, tensor in enumerate(calibration_inputs(photos, info, settings.calibration_size)):
        rgb = np.clip(np.rint(tensor[0].transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)
        path = folder / f"calibration_{k:03d}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise ExportError(f"cannot write {path}")
        written.append(path)
    return written


def read_nnarchive(path: str | os.PathLike) -> tuple[dict[str, Any], bytes]:
    """(`config.json` as a dict, the model file's bytes) of an NN Archive."""
    path = Path(path)
    try:
        with tarfile.open(path) as tar:
            config = json.loads(tar.extractfile("config.json").read())  # type: ignore[union-attr]
            model = tar.extractfile(config["model"]["metadata"]["path"]).read()  # type: ignore[union-attr]
    except (OSError, tarfile.TarError, KeyError, ValueError, AttributeError) as exc:
        raise ExportError(f"{path} is not a readable NN Archive (config.json + model): {exc}") from exc
    return config, model


__all__ = [
    "ARCHIVE_MODEL_FILE", "NNARCHIVE_GRID", "NNARCHIVE_SIZE", "PRECISIONS", "export_nnarchive", "nnarchive_config",
    "read_nnarchive", "validate_config", "write_calibration_photos",
]
