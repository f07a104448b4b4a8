"""A run killed with SIGKILL and resumed ends with exactly the weights of an uninterrupted run."""

from __future__ import annotations

import csv
import signal
from pathlib import Path

import torch
from train_helpers import make_config, run_cli, train_killed_at, write_config


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path: Path, synth_root: Path) -> None:
    def config(name: str) -> Path:
        cfg = make_config(
            tmp_path / name,
            train=[{"layout": "synthetic", "root": str(synth_root), "split": "train"}],
            val=[{"layout": "synthetic", "root": str(synth_root), "split": "val"}],
            optim={"steps": 8, "batch_size": 2},
            data={"num_workers": 1},  # a worker process, as real runs use
            run={"checkpoint_every": 3, "val_every": 4, "keep_checkpoints": 2},
        )
        return write_config(tmp_path / f"{name}.yaml", cfg)

    straight = run_cli("train", "--config", str(config("straight")))
    assert straight.returncode == 0, straight.stderr

    crashed = train_killed_at(config("crashed"), step=5)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    out = tmp_path / "crashed"
    assert (out / "checkpoints" / "latest").read_text() == "step_0000003.pt"
    assert not (out / "model.pt").exists()
    assert [r["step"] for r in _rows(out / "metrics.csv")] == ["1", "2", "3", "4", "5"]

    resumed = run_cli("train", "--config", str(config("crashed")), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stderr and "at step 3" in resumed.stderr

    final_a = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    final_b = torch.load(out / "model.pt", weights_only=True)
    assert final_a["model"].keys() == final_b["model"].keys()
    assert all(torch.equal(final_a["model"][k], final_b["model"][k]) for k in final_a["model"])
    # the log has each step once, with the same numbers as the uninterrupted run
    assert _rows(out / "metrics.csv") == _rows(tmp_path / "straight" / "metrics.csv")
    assert _rows(out / "val.csv") == _rows(tmp_path / "straight" / "val.csv")
    assert [r["step"] for r in _rows(out / "val.csv")] == ["4", "8"]

    checkpoint = torch.load(out / "checkpoints" / "step_0000008.pt", weights_only=True)
    assert {"model", "model_config", "optimizer", "scheduler", "scaler", "rng", "data", "step"} <= checkpoint.keys()
    assert checkpoint["step"] == 8 and checkpoint["data"] == {"epoch": 0, "batch": 8}  # 22 samples: 11 batches/epoch
    assert sorted(p.name for p in (out / "checkpoints").glob("step_*.pt")) == ["step_0000006.pt", "step_0000008.pt"]
