"""`resize_depth` is bilinear with align_corners=True (MODEL_SPEC: the prediction is resized back to
the image size that way), checked on sizes where align_corners=False gives other values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from depth_anything import build_model
from depth_anything.transforms import resize_depth


def aligned_bilinear(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Hand-written bilinear resize with align_corners=True: output pixel i samples the input at
    i · (in − 1) / (out − 1), so the corner pixels keep their values exactly."""
    in_h, in_w = depth.shape
    out_h, out_w = size
    ys = np.arange(out_h) * ((in_h - 1) / (out_h - 1) if out_h > 1 else 0.0)
    xs = np.arange(out_w) * ((in_w - 1) / (out_w - 1) if out_w > 1 else 0.0)
    y0 = np.clip(np.floor(ys).astype(int), 0, in_h - 1)
    x0 = np.clip(np.floor(xs).astype(int), 0, in_w - 1)
    y1, x1 = np.minimum(y0 + 1, in_h - 1), np.minimum(x0 + 1, in_w - 1)
    wy, wx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = depth[y0][:, x0] * (1 - wx) + depth[y0][:, x1] * wx
    bottom = depth[y1][:, x0] * (1 - wx) + depth[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def test_ramp_upsampled_with_aligned_corners():
    # [0, 3] to 4 columns: aligned corners give 0, 1, 2, 3; align_corners=False would give 0, 0.75, 2.25, 3
    out = resize_depth(torch.tensor([[0.0, 3.0]]), (1, 4))
    torch.testing.assert_close(out, torch.tensor([[0.0, 1.0, 2.0, 3.0]]), atol=1e-6, rtol=0)
    # 2×2 to 4×4
    out = resize_depth(torch.tensor([[0.0, 3.0], [6.0, 9.0]]), (4, 4))
    expected = torch.tensor([[0.0, 1.0, 2.0, 3.0], [2.0, 3.0, 4.0, 5.0], [4.0, 5.0, 6.0, 7.0], [6.0, 7.0, 8.0, 9.0]])
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(resize_depth(np.array([[0.0, 3.0], [6.0, 9.0]]), (4, 4)), expected.numpy(), atol=1e-6)
    np.testing.assert_allclose(resize_depth(np.array([[0.0, 3.0]]), (1, 4)), [[0.0, 1.0, 2.0, 3.0]], atol=1e-6)


def test_numpy_resize_equals_torchs_on_network_sized_maps():
    rng = np.random.default_rng(5)
    for shape, size in (((128, 176), (480, 640)), ((37, 50), (1000, 731)), ((1, 4), (6, 1)), ((8, 8), (8, 8))):
        depth = (rng.random((2, *shape)) * 500).astype(np.float32)
        expected = resize_depth(torch.from_numpy(depth), size).numpy()
        np.testing.assert_allclose(resize_depth(depth, size), expected, atol=1e-6 * 500, rtol=0)


@pytest.mark.parametrize(("shape", "size"), [((5, 7), (13, 9)), ((37, 37), (480, 640)), ((6, 4), (3, 2)), ((4, 6), (4, 11))])
def test_matches_hand_computed_aligned_bilinear(shape, size):
    rng = np.random.default_rng(sum(shape) + sum(size))
    depth = rng.random(shape).astype(np.float64)
    expected = aligned_bilinear(depth, size)
    out = resize_depth(torch.from_numpy(depth), size)
    assert out.shape == size
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-9, rtol=0)
    # batched input [B, h, w] gives each map resized alike
    batch = resize_depth(torch.from_numpy(np.stack([depth, 2 * depth])), size)
    assert batch.shape == (2, *size)
    np.testing.assert_allclose(batch.numpy(), np.stack([expected, 2 * expected]), atol=1e-9, rtol=0)
    # the numpy path (runtimes without torch) gives the same maps, in float32
    as_numpy = resize_depth(np.stack([depth, 2 * depth]).astype(np.float32), size)
    assert isinstance(as_numpy, np.ndarray) and as_numpy.dtype == np.float32 and as_numpy.shape == (2, *size)
    np.testing.assert_allclose(as_numpy, np.stack([expected, 2 * expected]), atol=1e-5, rtol=0)  # float32 indices
    np.testing.assert_allclose(resize_depth(depth.astype(np.float32), size), expected, atol=1e-5, rtol=0)
    # and the unaligned variant really is different here (else this test could not tell them apart)
    unaligned = torch.nn.functional.interpolate(torch.from_numpy(depth)[None, None], size=size, mode="bilinear",
                                                align_corners=False)[0, 0].numpy()
    assert np.abs(unaligned - expected).max() > 1e-3


def test_infer_image_resizes_the_prediction_back_with_aligned_corners(monkeypatch):
    """The official call, with the network replaced by a known map: the output is that map resized
    to the image with aligned corners."""
    from depth_anything.models import DepthAnything

    def known_map(self, x):
        h, w = x.shape[-2:]
        rows = torch.arange(h, dtype=x.dtype)[:, None] * 10.0
        cols = torch.arange(w, dtype=x.dtype)[None, :] ** 2
        return (rows + cols).expand(x.shape[0], h, w)

    monkeypatch.setattr(DepthAnything, "forward", known_map)
    from model_helpers import tiny_config

    model = build_model(tiny_config()).eval()
    image = np.zeros((20, 30, 3), np.uint8)
    out = model.infer_image(image, input_size=28)  # network input 28×42
    rows = np.arange(28, dtype=np.float64)[:, None] * 10.0
    cols = np.arange(42, dtype=np.float64)[None, :] ** 2
    np.testing.assert_allclose(out, aligned_bilinear(rows + cols, (20, 30)), atol=1e-3, rtol=1e-6)
