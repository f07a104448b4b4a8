"""Parity of an exported file with PyTorch: the same random images through both, the largest difference
measured against the PyTorch output's range (what `export --verify` prints and the tests assert)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from ..inference.exported import ExportedModelInfo
from ..inference.runtimes import Runtime, as_numpy
from ..models import DepthAnything


@dataclass(frozen=True)
class Parity:
    """One size's comparison: max |exported − torch| / (max − min of torch's output), and the mean."""

    height: int
    width: int
    batch: int
    max_error: float
    mean_error: float

    def __str__(self) -> str:
        return f"{self.batch}×{self.height}×{self.width}: max {self.max_error:.2e}, mean {self.mean_error:.2e} of the output range"


def _rounded(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def parity_sizes(info: ExportedModelInfo) -> list[tuple[int, int]]:
    """The static size; or for a dynamic file its default size, a non-square one, a smaller and a larger one."""
    if not info.dynamic_size:
        return [(info.height, info.width)]  # type: ignore[list-item]
    multiple = info.input_spec.size_multiple
    side = _rounded(info.input_spec.input_size, multiple)
    return [(side, side), (side, _rounded(side * 4 / 3, multiple)), (_rounded(side / 2, multiple), _rounded(side * 0.75, multiple)),
            (_rounded(side * 1.5, multiple), _rounded(side * 1.25, multiple))]


@torch.inference_mode()
def compare_with_torch(
    model: DepthAnything, runtime: Runtime, sizes: list[tuple[int, int]], batch: int = 2, seed: int = 0
) -> list[Parity]:
    """Run random [0, 1] images of each size through `runtime` and through `model` (float32, CPU); for a
    temporal graph, windows of its `frames` frames."""
    parameter = next(model.parameters())
    reference = model if (parameter.device.type, parameter.dtype) == ("cpu", torch.float32) else copy.deepcopy(model).to("cpu", torch.float32)
    reference.eval()
    spec = runtime.input_spec
    mean = torch.tensor(spec.mean, dtype=torch.float32).view(3, 1, 1)  # broadcasts over [B, (T,) 3, H, W]
    std = torch.tensor(spec.std, dtype=torch.float32).view(3, 1, 1)
    frames = getattr(getattr(runtime, "info", None), "frames", None)
    generator = torch.Generator().manual_seed(seed)
    results = []
    for height, width in sizes:
        image = torch.rand(batch, *(() if frames is None else (frames,)), 3, height, width, generator=generator)
        normalised = (image - mean) / std
        expected = reference(normalised).numpy()
        fed = normalised if runtime.normalized_input else image
        got = as_numpy(runtime.run(np.ascontiguousarray(fed.numpy())))
        if got.shape != expected.shape:
            raise AssertionError(f"exported output shape {got.shape} differs from PyTorch's {expected.shape}")
        span = float(expected.max() - expected.min()) or 1.0
        difference = np.abs(got.astype(np.float64) - expected)
        results.append(Parity(height, width, batch, float(difference.max() / span), float(difference.mean() / span)))
    return results


__all__ = ["Parity", "compare_with_torch", "parity_sizes"]
