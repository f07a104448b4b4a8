"""Preprocessing follows the reference `infer_image` exactly (sizes, rounding, interpolation, normalisation)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from depth_anything.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    network_input_size,
    preprocess,
    resize_depth,
)


@pytest.mark.parametrize(
    ("height", "width", "input_size", "expected"),
    [
        (97, 131, 140, (140, 196)),  # MODEL_SPEC's example
        (480, 640, 518, (518, 686)),
        (100, 105, 140, (140, 140)),  # 147/14 = 10.5 rounds half to even: 10
        (100, 115, 140, (140, 168)),  # 161/14 = 11.5 rounds half to even: 12
        (100, 100, 145, (154, 154)),  # rounding to 140 would fall below 145: round up instead
        (518, 518, 518, (518, 518)),
        (1000, 200, 518, (2590, 518)),
    ],
)
def test_network_input_size(height, width, input_size, expected):
    assert network_input_size(height, width, input_size) == expected


def test_preprocess_matches_reference_steps():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(97, 131, 3), dtype=np.uint8)
    ours = preprocess(rgb, 140)
    # The reference, step by step: /255 in float64, INTER_CUBIC to (w, h), normalise, CHW, float32.
    resized = cv2.resize(rgb / 255.0, (196, 140), interpolation=cv2.INTER_CUBIC)
    expected = ((resized - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)).transpose(2, 0, 1).astype(np.float32)
    assert ours.dtype == np.float32 and ours.shape == (3, 140, 196)
    np.testing.assert_array_equal(ours, expected)


def test_preprocess_normalises_a_constant_image_per_channel():
    out = preprocess(np.full((28, 28, 3), 128, np.uint8), 28)
    for c in range(3):
        np.testing.assert_allclose(out[c], (128 / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c], rtol=1e-6)
    sixteen = preprocess(np.full((28, 28, 3), 65535, np.uint16), 28)
    np.testing.assert_allclose(sixteen[0], (1.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0], rtol=1e-6)


def test_resize_depth_is_bilinear_with_aligned_corners():
    depth = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    out = resize_depth(depth, (3, 5))
    assert out.shape == (3, 5)
    assert out[0, 0] == 0 and out[0, -1] == 1 and out[-1, 0] == 2 and out[-1, -1] == 3  # corners kept exactly
    assert torch.isclose(out[1, 2], torch.tensor(1.5))
    batch = resize_depth(depth[None].repeat(2, 1, 1), (3, 5))
    assert batch.shape == (2, 3, 5) and torch.equal(batch[1], out)
