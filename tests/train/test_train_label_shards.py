"""Training reads label shards as a stream: the order is a pure function of (seed, epoch) for any number
of processes, reads stay within a shuffle buffer of the shard stream, and resume is bit-identical."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from shard_helpers import LABEL_ARGS, write_image_shards
from train_helpers import make_config, run_cli, train_killed_at, write_config

from depth_anything.train.label_shards import label_shards
from depth_anything.train.schedule import EpochShardSampler, stream_order


def test_stream_order_is_a_seeded_permutation_that_stays_near_the_stream() -> None:
    blocks, buffer = [5, 7, 3, 6, 4], 4
    order = stream_order(blocks, buffer, seed=1, epoch=0)
    assert sorted(order.tolist()) == list(range(25))
    np.testing.assert_array_equal(order, stream_order(blocks, buffer, seed=1, epoch=0))
    assert not np.array_equal(order, stream_order(blocks, buffer, seed=1, epoch=1))
    # the shard stream of that epoch: every output position draws from the next `buffer` samples at most
    starts = np.concatenate([[0], np.cumsum(blocks)])
    shards = np.random.default_rng([1, 0]).permutation(len(blocks))
    stream = np.concatenate([np.arange(starts[b], starts[b + 1]) for b in shards])
    place = {int(index): i for i, index in enumerate(stream)}
    assert all(place[int(index)] < i + buffer for i, index in enumerate(order))
    assert not np.array_equal(order, stream)  # the buffer does mix
    assert np.array_equal(stream_order(blocks, 1, 1, 0), stream)  # no buffer: shards whole, in shuffled order


def test_every_step_has_the_same_samples_for_any_number_of_processes() -> None:
    blocks = [6, 6, 6, 6]
    single = list(EpochShardSampler(24, batch_size=4, seed=3, blocks=blocks, buffer=5))
    pairs = [list(EpochShardSampler(24, batch_size=2, rank=r, world_size=2, seed=3, blocks=blocks, buffer=5))
             for r in (0, 1)]
    for step in range(6):
        together = pairs[0][2 * step : 2 * step + 2] + pairs[1][2 * step : 2 * step + 2]
        assert together == single[4 * step : 4 * step + 4]
    with pytest.raises(ValueError, match="add up to 23"):
        EpochShardSampler(24, batch_size=4, blocks=[6, 6, 6, 5])


def test_training_on_label_shards_resumes_bit_identically(tmp_path: Path) -> None:
    write_image_shards(tmp_path / "in", shards=4, per_shard=4)
    labelled = label_shards("default", str(tmp_path / "in" / "data-{000..003}.tar"), tmp_path / "labels",
                            **LABEL_ARGS)
    threshold = float(np.sort(labelled.quality)[2])  # drops the two worst labels

    def config(name: str) -> Path:
        source = {"layout": "pseudo", "root": str(tmp_path / "labels"), "min_quality": threshold,
                  "options": {"shuffle_buffer": 3}}
        cfg = make_config(tmp_path / name, train=[source], optim={"steps": 8, "batch_size": 2},
                          data={"num_workers": 1}, run={"checkpoint_every": 3})
        return write_config(tmp_path / f"{name}.yaml", cfg)

    straight = run_cli("train", "--config", str(config("straight")))
    assert straight.returncode == 0, straight.stderr[-3000:]
    crashed = train_killed_at(config("crashed"), step=5)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-3000:]
    resumed = run_cli("train", "--config", str(config("crashed")), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "at step 3" in resumed.stderr
    final_a = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)["model"]
    final_b = torch.load(tmp_path / "crashed" / "model.pt", weights_only=True)["model"]
    assert all(torch.equal(final_a[k], final_b[k]) for k in final_a)
    checkpoint = torch.load(tmp_path / "crashed" / "checkpoints" / "step_0000008.pt", weights_only=True)
    assert checkpoint["data"] == {"epoch": 1, "batch": 1}  # 14 kept samples: 7 batches per epoch


def test_min_quality_needs_label_shards_and_a_score_between_0_and_1(tmp_path: Path, synth_root: Path) -> None:
    from depth_anything.errors import ConfigError
    from depth_anything.train.config import DataSource, config_from_dict
    from depth_anything.train.loading import open_source

    with pytest.raises(ConfigError, match=r"data.train\[0\].min_quality.*has no quality scores"):
        open_source(DataSource("synthetic", str(synth_root), "train", min_quality=0.5), "data.train[0]")
    config = make_config(tmp_path, train=[{"layout": "synthetic", "root": str(synth_root), "min_quality": 1.5}])
    with pytest.raises(ConfigError, match=r"data.train\[0\].min_quality': must be in \[0, 1\]"):
        config_from_dict(config)
