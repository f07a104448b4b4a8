"""Learning-rate schedule and the sampler that makes data positions resumable and rank-independent."""

from __future__ import annotations

import pytest

from depth_anything.errors import ConfigError
from depth_anything.train.schedule import EpochShardSampler, WarmupPoly


def test_warmup_then_poly_decay() -> None:
    schedule = WarmupPoly(total=110, warmup=10, power=0.9)
    assert [schedule(s) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert schedule(10) == 1.0
    assert schedule(60) == pytest.approx(0.5**0.9)
    assert schedule(110) == 0.0
    assert WarmupPoly(total=100)(0) == 1.0  # no warm-up: the paper's plain poly schedule


def test_global_batches_do_not_depend_on_the_number_of_processes() -> None:
    single = list(EpochShardSampler(20, batch_size=4, seed=1))
    ranks = [list(EpochShardSampler(20, batch_size=2, rank=r, world_size=2, seed=1)) for r in (0, 1)]
    assert len(single) == 20
    for step in range(5):
        global_batch = ranks[0][2 * step : 2 * step + 2] + ranks[1][2 * step : 2 * step + 2]
        assert global_batch == single[4 * step : 4 * step + 4]
    assert not set(ranks[0]) & set(ranks[1])  # shards are disjoint


def test_position_resumes_mid_epoch_and_epochs_reshuffle() -> None:
    sampler = EpochShardSampler(10, batch_size=3, seed=0)  # 3 full batches, 1 sample dropped
    full = list(sampler)
    sampler.set_position(0, 2)
    assert list(sampler) == full[6:]
    sampler.set_position(1, 0)
    assert [i for _, i in sampler] != [i for _, i in full] and all(e == 1 for e, _ in sampler)
    with pytest.raises(ConfigError, match="optim.batch_size"):
        EpochShardSampler(3, batch_size=2, world_size=2)
