"""Luxonis NN Archive export: the ONNX model at a static size for an OAK camera, plus its `config.json`,
built and validated with `luxonis_ml.nn_archive` (the schema DepthAI and Luxonis' converter read).

The archive holds the same exact ONNX graph as `--format onnx` (batch 1, static size), whose input is
RGB float32 NCHW in [0, 1]. The config's preprocessing says so in the archive's terms: the camera's
8-bit frame x becomes (x − mean) / scale with mean 0 and scale 255 per channel, planar RGB
(`dai_type` RGB888p), frames stretched to the network size. Luxonis' converter bakes that step into
the compiled model, and the graph itself then applies the weights' ImageNet mean/std. The head is a
`MapOutputParser` over the `depth` output [1, H, W], with this project's output kind and unit in its
metadata.

Default size: 18×24 patches, an exact 4:3 (the OAK colour sensors' aspect): 252×336 (height×width) for
patch 14, 288×384 for the built-in patch-16 model. That is 432 tokens instead of 1,369 at 518×518, a
load an RVC2 (Myriad X) or RVC4 can run at a few frames per second for vits. `--height/--width` choose
another multiple of the patch size.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from pathlib import Path
from typing import Any

from ..errors import ExportError, require_extra
from ..inference.exported import INPUT_NAME, OUTPUT_NAME, ExportedModelInfo, output_unit
from ..models import DepthAnything
from .onnx import DEFAULT_OPSET, export_onnx, publish, staging_dir

NNARCHIVE_GRID = (18, 24)  # patches (height, width): 4:3
NNARCHIVE_SIZE = (18 * 14, 24 * 14)  # 252×336 for the published models' patch 14
ARCHIVE_MODEL_FILE = "depth_anything.onnx"
COMPRESSIONS = {".tar.xz": "xz", ".tar.gz": "gz"}


def _compression(out: Path) -> str:
    for suffix, kind in COMPRESSIONS.items():
        if out.name.endswith(suffix):
            return kind
    raise ExportError(f"an NN Archive is a .tar.xz or .tar.gz file; got out={out}")


def nnarchive_config(info: ExportedModelInfo, name: str) -> dict[str, Any]:
    """The archive's `config.json` (NN Archive config version 1.0) for an exported static model."""
    spec = info.input_spec
    if info.height is None or info.width is None or info.batch != 1:
        raise ExportError("an NN Archive holds a static model with batch 1")
    return {
        "config_version": "1.0",
        "model": {
            "metadata": {"name": name, "path": ARCHIVE_MODEL_FILE, "precision": "float16" if info.precision == "fp16" else "float32"},
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
    opset: int = DEFAULT_OPSET,
    fp16: bool = False,
    source: str = "",
    name: str | None = None,
) -> ExportedModelInfo:
    """Write an NN Archive (`out`: .tar.xz or .tar.gz) with the ONNX model at a static size (default 18×24
    patches: 252×336 at patch 14)."""
    archive = require_extra("luxonis_ml.nn_archive", "oak")
    out = Path(out)
    compression = _compression(out)
    if input_size is None and height is None and width is None:
        height, width = (cells * model.config.patch_size for cells in NNARCHIVE_GRID)
    base = out.name[: -len(".tar." + compression)]
    name = name or re.sub(r"[^A-Za-z0-9_.-]+", "-", base) or "depth-anything"
    with staging_dir(out) as stage:
        onnx_file = stage / ARCHIVE_MODEL_FILE
        info = export_onnx(
            model, onnx_file, input_size=input_size, height=height, width=width, dynamic=False, batch=1,
            opset=opset, fp16=fp16, source=source,
        )
        extras = sorted(p.name for p in stage.iterdir() if p.name != ARCHIVE_MODEL_FILE and not p.name.startswith("."))
        if extras:
            raise ExportError(f"the model's weights do not fit in one ONNX file ({', '.join(extras)}); an NN Archive needs one")
        config = nnarchive_config(info, name)
        validate_config(config)
        generator = archive.ArchiveGenerator(
            archive_name=base, save_path=str(stage), cfg_dict=config, executables_paths=[str(onnx_file)],
            compression=compression,
        )
        written = Path(generator.make_archive())
        if written.name != out.name:
            os.replace(written, stage / out.name)
        publish(stage, out, [out.name])
    return info


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


__all__ = ["ARCHIVE_MODEL_FILE", "NNARCHIVE_GRID", "NNARCHIVE_SIZE", "export_nnarchive", "nnarchive_config", "read_nnarchive", "validate_config"]
