"""`depth-anything serve`: depth over HTTP from resident models, with dynamic batching, limits, a bearer
token and Prometheus metrics (FastAPI and uvicorn: `pip install 'depth-anything[serve]'`).

    from depth_anything.serve import ServeConfig, ModelChoice, serve
    serve(ServeConfig(models=(ModelChoice("default"),), port=8000))

`create_app(config)` gives the ASGI application itself, for another ASGI server or a test client.
"""

from __future__ import annotations

from typing import Any

from .config import ModelChoice, ServeConfig

_LAZY = {"create_app": ".app", "serve": ".server"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:  # importing them needs no web framework until they are used
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ModelChoice", "ServeConfig", "create_app", "serve"]
