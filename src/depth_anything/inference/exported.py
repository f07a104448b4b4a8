"""What an exported model file says about itself: the contract between `depth-anything export`, which
writes it into the file (ONNX `metadata_props`, OpenVINO `rt_info`, NN Archive `config.json`), and the
runtimes that read it back before running anything.

The exported graph contains the normalisation. Its input is an RGB image tensor, float32, NCHW, values
in [0, 1] (8-bit images divided by 255), height and width multiples of the patch size (14 for the
published models, 16 for the built-in ones) and equal to the file's static size unless that axis is dynamic. Its output is
float32 [B, H, W] at the input's size: relative disparity (affine-invariant, larger = nearer) or metric
depth in metres, as the stored input spec says.

A temporal (Video Depth Anything) graph takes a window of `frames` frames at once: input [B, T, 3, H, W]
(layout NTCHW, T fixed), output [B, T, H, W]; `frames` in the metadata says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ExportError
from ..transforms import InputSpec

FORMAT_VERSION = 1
PREFIX = "depth_anything."
INPUT_NAME = "image"
OUTPUT_NAME = "depth"
INPUT_LAYOUT = "NCHW"
VIDEO_INPUT_LAYOUT = "NTCHW"  # temporal graphs: a window of frames
INPUT_RANGE = (0.0, 1.0)
OUTPUT_LAYOUT = "NHW"
PRECISIONS = ("fp32", "fp16", "int8")  # int8: an OpenVINO IR quantized with NNCF


def output_unit(spec: InputSpec) -> str:
    """The output's unit in words, for metadata and messages."""
    if spec.is_metric:
        return f"metres, in (0, {spec.max_depth:g})"
    return "relative: affine-invariant disparity, larger = nearer (no unit)"


@dataclass(frozen=True)
class ExportedModelInfo:
    """The metadata of one exported file. `height`, `width`, `batch` are None where the axis is dynamic."""

    input_spec: InputSpec
    model_config: dict[str, Any]
    height: int | None
    width: int | None
    batch: int | None
    precision: str = "fp32"
    source: str = ""
    frames: int | None = None  # temporal graphs: the fixed window of frames; None for image graphs

    def __post_init__(self) -> None:  # the config as JSON reads it back (lists, not tuples), so infos compare
        object.__setattr__(self, "model_config", json.loads(json.dumps(dict(self.model_config))))

    @property
    def dynamic_size(self) -> bool:
        return self.height is None or self.width is None

    @property
    def size_text(self) -> str:
        height = "H" if self.height is None else str(self.height)
        width = "W" if self.width is None else str(self.width)
        batch = "B" if self.batch is None else str(self.batch)
        frames = "" if self.frames is None else f"{self.frames}×"
        return f"{batch}×{frames}3×{height}×{width}"

    def to_metadata(self) -> dict[str, str]:
        """String key/value pairs as stored in the file."""
        spec = self.input_spec
        image = {
            "name": INPUT_NAME, "layout": INPUT_LAYOUT if self.frames is None else VIDEO_INPUT_LAYOUT,
            "dtype": "float32", "channels": "RGB",
            "value_range": list(INPUT_RANGE),
            "batch": self.batch if self.batch is not None else "dynamic",
            "height": self.height if self.height is not None else "dynamic",
            "width": self.width if self.width is not None else "dynamic",
            "size_rule": f"height and width are multiples of {spec.size_multiple}",
            "normalization": {"inside_graph": True, "mean": list(spec.mean), "std": list(spec.std),
                              "formula": "(image - mean) / std"},
        }
        output = {
            "name": OUTPUT_NAME, "layout": OUTPUT_LAYOUT, "dtype": "float32", "size": "the input's height × width",
            "kind": spec.output, "unit": output_unit(spec), "max_depth": spec.max_depth,
        }
        values = {
            "format_version": str(FORMAT_VERSION),
            "input_spec": json.dumps(spec.to_dict()),
            "model_config": json.dumps(self.model_config),
            "input": json.dumps(image),
            "output": json.dumps(output),
            "precision": self.precision,
            "source": self.source,
        }
        if self.frames is not None:
            values["frames"] = str(self.frames)
            output["layout"], output["frames"] = "NTHW", self.frames
            values["output"] = json.dumps(output)
        return {PREFIX + key: value for key, value in values.items()}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], file: str | Path) -> ExportedModelInfo:
        """Read back what `to_metadata` wrote; a file without it is refused with what to do instead."""
        redo = "export it again with `export_onnx` (`depth-anything export`)"
        missing = [key for key in ("format_version", "input_spec", "model_config", "input") if PREFIX + key not in metadata]
        if missing:
            raise ExportError(
                f"{file} has no depth-anything export metadata (missing {', '.join(PREFIX + k for k in missing)}), "
                f"so its input size, normalisation and output kind are unknown; {redo}"
            )
        version = metadata[PREFIX + "format_version"]
        if version != str(FORMAT_VERSION):
            raise ExportError(f"{file} has export format version {version}, this version reads {FORMAT_VERSION}; {redo}")
        try:
            spec = InputSpec.from_dict(json.loads(metadata[PREFIX + "input_spec"]))
            image = json.loads(metadata[PREFIX + "input"])
            config = json.loads(metadata[PREFIX + "model_config"])
        except (ValueError, TypeError) as exc:
            raise ExportError(f"{file}: unreadable export metadata ({exc}); {redo}") from exc
        frames = int(metadata[PREFIX + "frames"]) if PREFIX + "frames" in metadata else None
        layout = INPUT_LAYOUT if frames is None else VIDEO_INPUT_LAYOUT
        if image.get("layout") != layout or image.get("dtype") != "float32" or list(image.get("value_range", [])) != list(INPUT_RANGE):
            raise ExportError(f"{file}: input {image} is not float32 {layout} in [0, 1]; {redo}")
        precision = metadata.get(PREFIX + "precision", "fp32")
        if precision not in PRECISIONS:
            raise ExportError(f"{file}: unknown precision {precision!r}; {redo}")

        def axis(name: str) -> int | None:
            value = image.get(name)
            return None if value == "dynamic" else int(value)

        return cls(spec, config, axis("height"), axis("width"), axis("batch"), precision,
                   metadata.get(PREFIX + "source", ""), frames)

    def check_input_size(self, input_size: int | None, file: str | Path) -> None:
        """Refuse an `input_size` that a static file cannot run."""
        if input_size is None or self.dynamic_size or input_size == min(self.height, self.width):  # type: ignore[type-var]
            return  # a dynamic file takes any size, rounded to the patch multiple exactly as for PyTorch
        raise ExportError(
            f"{file} was exported at the static size {self.height}×{self.width}, so it runs at input_size="
            f"{min(self.height, self.width)} (or none) only, not {input_size}; export it again with dynamic=True, "  # type: ignore[type-var]
            f"or at the size you need with height= and width="
        )

    def check_batch_shape(self, shape: tuple[int, ...], file: str | Path) -> None:
        """Refuse a network input whose height/width a static file cannot take (batch is handled by the runtime)."""
        if self.frames is not None:  # a temporal graph: exactly its window of frames
            if len(shape) != 5 or shape[1] != self.frames or shape[2] != 3:
                raise ExportError(f"{file}: expected a [B, {self.frames}, 3, H, W] window of frames (the graph's "
                                  f"fixed window), got shape {tuple(shape)}")
            shape = (shape[0], *shape[2:])
        if len(shape) != 4 or shape[1] != 3:
            raise ExportError(f"{file}: expected a [B, 3, H, W] batch, got shape {tuple(shape)}")
        height, width = shape[2], shape[3]
        multiple = self.input_spec.size_multiple
        if height % multiple or width % multiple:
            raise ExportError(f"{file}: input {height}×{width} is not a multiple of the patch size {multiple}")
        if (self.height is not None and height != self.height) or (self.width is not None and width != self.width):
            raise ExportError(
                f"{file} takes {self.height}×{self.width} inputs only (static export), but this image's network input "
                f"is {height}×{width}; export with dynamic=True to run images of any shape, or give images of the "
                f"aspect ratio {self.height}:{self.width}"
            )


__all__ = [
    "FORMAT_VERSION", "INPUT_NAME", "OUTPUT_NAME", "PREFIX", "ExportError", "ExportedModelInfo", "output_unit",
]
