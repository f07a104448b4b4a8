"""Synthetic camera paths: continuous motion, exact cameras, deterministic and resumable on disk, readable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from depth_anything.data.datasets import open_sequences
from depth_anything.data.synthetic import SynthConfig
from depth_anything.data.synthetic.sequence import (
    MOTIONS,
    SEQUENCE_MANIFEST,
    generate_sequence,
    sequence_scene,
    write_sequences,
)
from depth_anything.errors import DatasetError

CONFIG = SynthConfig(width=40, height=30)
FRAMES = 4


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def test_each_motion_moves_the_camera_as_named() -> None:
    for index, motion in enumerate(MOTIONS):
        _scene, cameras, name = sequence_scene(7, index, 32, CONFIG)
        assert name == motion and len(cameras) == 32
        positions = np.stack([c.position for c in cameras])
        steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
        turns = [np.degrees(np.arccos(np.clip((np.trace(a.rotation.T @ b.rotation) - 1) / 2, -1, 1)))
                 for a, b in zip(cameras[:-1], cameras[1:], strict=True)]
        if motion == "pan":
            assert steps.max() == 0.0 and min(turns) > 0.1
        elif motion == "dolly":
            assert steps.min() > 0 and max(turns) < 1e-3  # arccos near 1 is only this precise
        else:
            assert steps.min() > 0 and min(turns) > 0.1
        # continuous: equal steps, no jumps
        np.testing.assert_allclose(steps, steps[0], atol=1e-9)
        np.testing.assert_allclose(turns, turns[0], atol=1e-5)


def test_sequence_depth_matches_its_cameras() -> None:
    """Frame 0 of a pan seen from frame 1 through the stored cameras lands on frame 1's depth."""
    from depth_anything.eval.video import temporal_alignment_error

    sequence = generate_sequence(3, 0, FRAMES, CONFIG)
    assert sequence.images.shape == (FRAMES, 30, 40, 3) and sequence.images.dtype == np.uint8
    assert sequence.depth.dtype == np.float32 and sequence.intrinsics.shape == (FRAMES, 3, 3)
    assert sequence.camera_to_world.shape == (FRAMES, 4, 4)
    depth = np.where(sequence.valid, sequence.depth, 0)
    shuffled = sequence.camera_to_world[[0, 3, 1, 2]]
    right = temporal_alignment_error(depth, sequence.intrinsics, sequence.camera_to_world, sequence.valid)
    wrong = temporal_alignment_error(depth, sequence.intrinsics, shuffled, sequence.valid)
    assert right < wrong


def test_written_sequences_are_deterministic_and_resumable(tmp_path: Path) -> None:
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    assert write_sequences(whole, 2, FRAMES, seed=5, config=CONFIG) == (2, 0)
    assert write_sequences(resumed, 1, FRAMES, seed=5, config=CONFIG) == (1, 0)
    # a torn manifest line (killed mid-append) is ignored and its sequence rendered again
    with open(resumed / SEQUENCE_MANIFEST, "a", encoding="utf-8") as handle:
        handle.write('{"index": 1, "na')
    assert write_sequences(resumed, 2, FRAMES, seed=5, config=CONFIG) == (1, 1)
    assert _files(whole) == _files(resumed)
    assert write_sequences(whole, 2, FRAMES, seed=5, config=CONFIG) == (0, 2)
    with pytest.raises(DatasetError, match="frames"):
        write_sequences(whole, 2, FRAMES + 1, seed=5, config=CONFIG)


def test_reader_returns_frames_depth_and_cameras(tmp_path: Path) -> None:
    write_sequences(tmp_path, 2, FRAMES, seed=1, config=CONFIG)
    reader = open_sequences("synthetic-sequences", tmp_path)
    assert len(reader) == 2 and len(open_sequences("synthetic-sequences", tmp_path, split="val")) == 1
    sequence = reader[1]
    fresh = generate_sequence(1, 1, FRAMES, CONFIG)
    np.testing.assert_array_equal(sequence.images, fresh.images)
    np.testing.assert_allclose(sequence.depth, fresh.depth, rtol=1e-3)  # stored as float16
    np.testing.assert_array_equal(sequence.valid, fresh.valid & (fresh.depth > 0))
    np.testing.assert_allclose(sequence.camera_to_world, fresh.camera_to_world, atol=1e-8)
    np.testing.assert_allclose(sequence.intrinsics, fresh.intrinsics, atol=1e-5)
    assert sequence.meta["motion"] == "dolly"
    header = json.loads((tmp_path / "sequences.json").read_text())
    assert header["frames"] == FRAMES and header["seed"] == 1


def test_reader_names_a_missing_header(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="sequences.json"):
        open_sequences("synthetic-sequences", tmp_path)
