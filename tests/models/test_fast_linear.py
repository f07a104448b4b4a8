"""The encoder's linear layers: oneDNN's fused kernel for CPU inference, plain `F.linear` otherwise,
with the same results."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import ProfilerActivity, profile

from depth_anything.models import layers

pytestmark = pytest.mark.skipif(not layers.HAS_ONEDNN_LINEAR, reason="this torch build has no oneDNN linear")


def _ops(run) -> set[str]:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    return {event.key for event in prof.key_averages()}


@pytest.mark.parametrize("gelu", [False, True])
def test_inference_uses_the_onednn_kernel_and_matches_f_linear(gelu):
    torch.manual_seed(0)
    layer = nn.Linear(48, 96)
    x = torch.randn(2, 37, 48)
    expected = F.gelu(F.linear(x, layer.weight, layer.bias)) if gelu else F.linear(x, layer.weight, layer.bias)
    with torch.inference_mode():
        out = layers.linear(layer, x, gelu=gelu)
        ops = _ops(lambda: layers.linear(layer, x, gelu=gelu))
    assert any("_linear_pointwise" in op for op in ops), ops
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_training_autocast_and_other_dtypes_take_f_linear():
    layer = nn.Linear(16, 8)
    x = torch.randn(3, 16, requires_grad=True)
    out = layers.linear(layer, x, gelu=True)
    out.sum().backward()  # autograd works: the plain path
    assert x.grad is not None
    assert not any("_linear_pointwise" in op for op in _ops(lambda: layers.linear(layer, x)))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert layers.linear(layer, x.detach()).dtype == torch.bfloat16  # autocast still applies
    with torch.inference_mode():
        double = nn.Linear(16, 8).double()
        assert layers.linear(double, x.detach().double()).dtype == torch.float64
