"""Runtimes: each maps a preprocessed batch to the network's raw output, and nothing else.

A runtime knows nothing about files or images. The `Predictor` reads, preprocesses, batches, resizes
back and reports; exported models (ONNX Runtime, OpenVINO) plug in as further runtime classes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch

from ..models import DepthAnything
from ..runtime import resolve_device, resolve_dtype
from ..transforms import InputSpec


@runtime_checkable
class Runtime(Protocol):
    """[B, 3, h, w] float32 normalised batch → [B, h, w] float32 raw depth/disparity (a torch tensor)."""

    name: str
    input_spec: InputSpec

    def run(self, batch: np.ndarray) -> torch.Tensor: ...


class TorchRuntime:
    """A PyTorch `DepthAnything` under inference mode.

    The model is moved at most once: with no `device` or `dtype` asked it stays where and as it is
    (a CPU model stays on the CPU).
    """

    name = "torch"

    def __init__(
        self, model: DepthAnything, device: str | torch.device | None = None, dtype: str | torch.dtype | None = None
    ) -> None:
        parameter = next(model.parameters())
        self.device = resolve_device(device) if device is not None else parameter.device
        self.dtype = resolve_dtype(dtype) if dtype is not None else parameter.dtype
        if (parameter.device, parameter.dtype) != (self.device, self.dtype):
            model = model.to(device=self.device, dtype=self.dtype)
        self.model = model.eval()
        self.input_spec = model.input_spec

    @torch.inference_mode()
    def run(self, batch: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(batch).to(device=self.device, dtype=self.dtype)
        return self.model(tensor).float()

    def __repr__(self) -> str:
        return f"TorchRuntime({self.model.config.encoder}, device={self.device}, dtype={self.dtype})"


# Backends a `Predictor` can run on; exported-model runtimes are added beside TorchRuntime.
BACKENDS = ("torch", "onnxruntime", "openvino")


def open_runtime(backend: str, path, device=None, dtype=None) -> Runtime:
    """The runtime of an exported file for `backend` (onnxruntime, openvino)."""
    raise NotImplementedError(f"the {backend} runtime arrives with export")


__all__ = ["BACKENDS", "Runtime", "TorchRuntime", "open_runtime"]
