"""Mixed precision: the autocast and fp16 loss-scaling paths, exercised on CPU autocast."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from train_helpers import make_config, run_cli, write_config


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_trains_and_checkpoints_scaler(tmp_path: Path, synth_root: Path, amp: str) -> None:
    out = tmp_path / amp
    config = make_config(out, train=[{"layout": "synthetic", "root": str(synth_root), "split": "train"}],
                         optim={"steps": 16, "amp": amp}, run={"checkpoint_every": 8})
    result = run_cli("train", "--config", str(write_config(tmp_path / f"{amp}.yaml", config)), "--device", "cpu")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    losses = [float(r["loss"]) for r in rows]
    assert len(losses) == 16 and all(math.isfinite(v) and v > 0 for v in losses)
    checkpoint = torch.load(out / "checkpoints" / "step_0000016.pt", weights_only=True)
    # master weights stay float32 under autocast; only fp16 keeps a live loss scale
    assert all(v.dtype == torch.float32 for v in checkpoint["model"].values() if v.is_floating_point())
    norms = [float(r["grad_norm"] or "nan") for r in rows]  # empty: a step skipped for overflow
    if amp == "fp16":  # fp16 gradients of this model overflow at the initial scale 2^16: the scaler backs off
        assert 0 < checkpoint["scaler"]["scale"] < 2.0**16
        assert math.isnan(norms[0]) and any(math.isfinite(n) and n > 0 for n in norms)  # skipped, then applied
    else:
        assert all(math.isfinite(n) and n > 0 for n in norms)
    if amp == "bf16":
        assert checkpoint["scaler"] == {}
    initial = torch.load(out / "checkpoints" / "step_0000008.pt", weights_only=True)["model"]
    assert any(not torch.equal(initial[k], v) for k, v in checkpoint["model"].items())
