"""Synthetic samples: the streams of neighbouring (seed, index) pairs never coincide, e.g. sample i+1 of
seed s and sample i of seed s+1 (which a generator seeded with seed + index would make identical)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from depth_anything.data.synthetic import SynthConfig, generate_sample, sample_rng

SMALL = SynthConfig(width=16, height=16)


def _fingerprint(sample) -> bytes:
    return b"".join(np.ascontiguousarray(a).tobytes() for a in
                    (sample.image, sample.depth, sample.valid, sample.intrinsics, sample.camera_to_world))


@pytest.mark.parametrize(("seed", "index"), [(0, 0), (0, 5), (1, 0), (3, 7), (41, 2)])
def test_samples_of_swapped_neighbours_differ(seed, index):
    a = generate_sample(seed, index + 1, SMALL)
    b = generate_sample(seed + 1, index, SMALL)
    same = _fingerprint(a) == _fingerprint(b)
    assert not same, f"({seed}, {index + 1}) and ({seed + 1}, {index}) are the same sample"
    assert not np.array_equal(a.camera_to_world, b.camera_to_world)


def test_random_streams_are_distinct_across_seeds_and_indices():
    draws = {}
    for seed, index in itertools.product(range(6), range(6)):
        draws[(seed, index)] = sample_rng(seed, index).random(4).tobytes()
    assert len(set(draws.values())) == len(draws), "two (seed, index) pairs share a random stream"
    # the pure-function guarantee still holds
    assert sample_rng(2, 3).random(4).tobytes() == draws[(2, 3)]


def test_samples_with_equal_seed_plus_index_are_all_different():
    total = 4
    prints = [_fingerprint(generate_sample(seed, total - seed, SMALL)) for seed in range(total + 1)]
    assert len(set(prints)) == len(prints)
    assert _fingerprint(generate_sample(1, 3, SMALL)) == prints[1]  # deterministic
