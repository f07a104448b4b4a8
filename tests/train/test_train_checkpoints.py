"""Checkpoints restore every random generator; hooks run where the loop promises; `model.init` names
resolve like `load_model`'s."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import make_config, write_depth_folder

from depth_anything.train.checkpoints import capture_rng_state, restore_rng_state
from depth_anything.train.config import config_from_dict
from depth_anything.train.hooks import Hook
from depth_anything.train.trainer import Trainer


def _draws() -> dict[str, float]:
    """One value from each generator a run's code may draw from."""
    return {"python": random.random(), "numpy": float(np.random.random()), "torch": float(torch.rand(1))}


def _scramble() -> None:
    random.seed(1001)
    np.random.seed(1002)
    torch.manual_seed(1003)


def test_rng_states_are_restored_for_python_numpy_and_torch() -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    _draws()  # away from the seeded state, so a restore is needed to get back here
    state = capture_rng_state()
    expected = _draws()
    _scramble()
    restore_rng_state(state)
    got = _draws()
    assert {name: got[name] == expected[name] for name in expected} == dict.fromkeys(expected, True)


def test_resume_restores_python_numpy_and_torch_rng_from_the_checkpoint_file(tmp_path: Path) -> None:
    data = write_depth_folder(tmp_path / "data", 4)
    cfg = config_from_dict(make_config(tmp_path / "out", [{"layout": "folder", "root": str(data)}],
                                       optim={"steps": 2, "batch_size": 2}))
    trainer = Trainer(cfg)
    _draws()  # the run's own draws: the saved state is not the one the seed gives
    trainer.save_checkpoint()
    expected = _draws()
    _scramble()
    resumed = Trainer(cfg, resume=True)  # seeds every generator, then restores the checkpoint's states
    got = _draws()
    assert resumed.step == 0
    assert {name: got[name] == expected[name] for name in expected} == dict.fromkeys(expected, True)


class _Recorder(Hook):
    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def on_start(self, trainer) -> None:
        self.events.append(("start", trainer.step))

    def on_step(self, trainer, values) -> None:
        assert np.isfinite(values["loss"])
        self.events.append(("step", trainer.step))

    def on_log(self, trainer, row) -> None:
        self.events.append(("log", row["step"]))

    def on_validation(self, trainer, metrics) -> None:
        assert metrics["samples"] > 0
        self.events.append(("validation", trainer.step))

    def on_checkpoint(self, trainer, path) -> None:
        assert path.is_file() and (path.parent / "latest").read_text() == path.name
        self.events.append(("checkpoint", trainer.step))

    def on_step_end(self, trainer) -> None:
        self.events.append(("end of step", trainer.step))

    def on_end(self, trainer) -> None:
        self.events.append(("end", trainer.step))


def test_hooks_run_in_order_with_the_checkpoint_written_before_the_end_of_its_step(tmp_path: Path) -> None:
    data = write_depth_folder(tmp_path / "data", 4)
    cfg = config_from_dict(make_config(tmp_path / "out", [{"layout": "folder", "root": str(data)}],
                                       val=[{"layout": "folder", "root": str(data)}],
                                       optim={"steps": 2, "batch_size": 2},
                                       run={"log_every": 2, "val_every": 1, "checkpoint_every": 1}))
    recorder = _Recorder()
    Trainer(cfg, hooks=[recorder]).fit()
    assert recorder.events == [
        ("start", 0),
        ("step", 1), ("validation", 1), ("checkpoint", 1), ("end of step", 1),
        ("step", 2), ("log", 2), ("validation", 2), ("checkpoint", 2), ("end of step", 2),
        ("end", 2),
    ]


def test_init_by_published_name_is_found_in_the_cache_like_load_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from depth_anything.models import build_model
    from depth_anything.train.config import model_config_from
    from depth_anything.weights import CACHE_ENV, PUBLISHED_WEIGHTS, cached_path, save_checkpoint

    name = next(n for n, spec in PUBLISHED_WEIGHTS.items() if not spec.builtin and not spec.transformers_format)
    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = write_depth_folder(tmp_path / "data", 4)
    raw = make_config(tmp_path / "out", [{"layout": "folder", "root": str(data)}])
    raw["model"]["init"] = name
    cfg = config_from_dict(raw)
    torch.manual_seed(5)
    source = build_model(model_config_from(cfg.model))
    save_checkpoint(source, cached_path(PUBLISHED_WEIGHTS[name], cache))
    start = Trainer(cfg).model.state_dict()
    assert all(torch.equal(start[k], v) for k, v in source.state_dict().items())
