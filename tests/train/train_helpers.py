"""Helpers of the training tests: tiny-model configs and CLI subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

# A 4-block, 32-wide ViT + DPT head; pretrain_grid 2 = the patch grid of the 28 px training crops.
TINY_MODEL: dict[str, Any] = {
    "encoder": "tiny", "embed_dim": 32, "depth": 4, "num_heads": 2, "layer_indices": [0, 1, 2, 3],
    "features": 16, "out_channels": [8, 16, 32, 32], "pretrain_grid": 2,
}


def make_config(output_dir: Path, train: list[dict], val: list[dict] | None = None, stage: str = "teacher",
                **sections: dict[str, Any]) -> dict[str, Any]:
    """A complete, small training config as plain data; `sections` update the defaults per section."""
    config: dict[str, Any] = {
        "stage": stage,
        "model": {"config": dict(TINY_MODEL)},
        "data": {"train": train, "val": val or [], "size": 28, "num_workers": 0},
        "optim": {"batch_size": 2, "steps": 6, "lr": 1e-4, "warmup_steps": 2},
        "run": {"output_dir": str(output_dir), "log_every": 1, "val_every": 1000, "checkpoint_every": 1000,
                "progress": False},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """Write `config` as YAML to `path`."""
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m depth_anything.cli ARGS` in a fresh process (one thread, so runs are reproducible)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "depth_anything.cli", *args], env=full_env, capture_output=True,
                          text=True, timeout=timeout)
