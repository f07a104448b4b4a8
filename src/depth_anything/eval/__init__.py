"""Evaluation with the Depth Anything V2 protocol: metrics, alignment/crops/caps, benchmarks, DA-2K.

Imports are lazy so that `import depth_anything.eval.metrics` does not pull in the dataset readers.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "compute_metrics": "metrics",
    "METRIC_NAMES": "metrics",
    "Protocol": "protocols",
    "make_protocol": "benchmarks",
    "protocol_for": "protocols",
    "score_prediction": "protocols",
    "BadSample": "protocols",
    "depth_agreement": "protocols",
    "BENCHMARKS": "benchmarks",
    "evaluate": "benchmarks",
    "evaluate_benchmark": "benchmarks",
    "EvalReport": "benchmarks",
    "evaluate_da2k": "da2k",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
