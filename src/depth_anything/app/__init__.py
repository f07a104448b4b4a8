"""The web demo (Gradio): `build_demo(models) -> gr.Blocks` and `launch_demo(demo, host, port)`.

`ModelChooser` and `compute_depth_outputs` (in `processing`) work without Gradio; the page itself
needs the `app` extra (`pip install depth-anything[app]`), imported only when asked for.
"""

from __future__ import annotations

from typing import Any

from .processing import (
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    DepthOutputs,
    ModelChooser,
    ModelSource,
    ModelUnavailableError,
    check_upload,
    compute_depth_outputs,
    model_sources,
)

_GRADIO_PARTS = ("DepthHandler", "build_demo", "default_examples", "launch_demo", "startup_notice")

__all__ = [
    "MAX_PIXELS", "MAX_UPLOAD_BYTES", "DepthOutputs", "ModelChooser", "ModelSource", "ModelUnavailableError",
    "check_upload", "compute_depth_outputs", "model_sources", *_GRADIO_PARTS,
]


def __getattr__(name: str) -> Any:
    if name in _GRADIO_PARTS:  # imports gradio (MissingExtraError naming the extra when it is absent)
        from . import demo

        return getattr(demo, name)
    raise AttributeError(f"module 'depth_anything.app' has no attribute {name!r}")
