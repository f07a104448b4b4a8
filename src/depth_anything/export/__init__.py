"""Export: ONNX (exact at every input size), OpenVINO IR, Luxonis NN Archive, and the DepthAI host side.

Each format needs an extra: `pip install 'depth-anything[onnx]'`, `[openvino]` (with NNCF for
`export_openvino(..., int8=True)` or `int8=Int8Options(...)`), `[oak]`. Nothing heavy is imported until a format is used.
"""

from __future__ import annotations

import importlib
from typing import Any

FORMATS = ("onnx", "openvino", "nnarchive")
DEFAULT_OPSET = 18  # the lowest opset torch's (dynamo) exporter emits without a version conversion

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


__all__ = ["DEFAULT_OPSET", "FORMATS", *_LAZY]
