"""Export: ONNX (exact at every input size), OpenVINO IR, Luxonis NN Archive, and the DepthAI host side.

Each format needs an extra: `pip install 'depth-anything[onnx]'`, `[openvino]` (with NNCF for
`export_openvino(..., int8=True)` or `int8=Int8Options(...)`), `[oak]`. Nothing heavy is imported until a format is used.
"""

from __future__ import annotations

import importlib
from typing import Any

FORMATS = ("onnx", "openvino", "nnarchive")
DEFAULT_OPSET = 18  # the lowest opset torch's (dynamo) exporter emits without a version conversion
TARGETS = ("generic", "rvc2", "rvc4")  # where the file runs: any runtime, OAK RVC2 (Myriad X), OAK4 RVC4
RVC2_OPSET = 16  # read by OpenVINO 2022.3.0 (modelconverter's RVC2 toolchain), checked in the tests
RVC2_OPSETS = range(14, 18)  # TorchScript exporter: attention needs 14; ReduceMean keeps axes as an attribute to 17
# default NN Archive grids (patches, height × width) per target, the sizes Luxonis' model zoo publishes vits
# at: 18×24 → 252×336 and 30×40 → 420×560 at patch 14 (288×384 and 480×640 at the built-in patch 16)
TARGET_GRIDS = {"generic": (18, 24), "rvc2": (18, 24), "rvc4": (30, 40)}

_LAZY = {
    "export_onnx": "depth_anything.export.onnx",
    "read_onnx_metadata": "depth_anything.export.onnx",
    "export_openvino": "depth_anything.export.openvino",
    "Int8Options": "depth_anything.export.openvino",
    "export_nnarchive": "depth_anything.export.nnarchive",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'depth_anything.export' has no attribute {name!r}")


__all__ = ["DEFAULT_OPSET", "FORMATS", "RVC2_OPSET", "RVC2_OPSETS", "TARGETS", "TARGET_GRIDS", *_LAZY]
