"""Helpers of the training tests: tiny-model configs and CLI subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from depth_anything.train.hooks import Hook, Trainer

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


class KillAtStep(Hook):
    """A training hook that SIGKILLs its own process once step `step` and all that was due at it are
    done: a real hard crash at a known point, for the resume tests (`train(..., hooks=[KillAtStep(5)])`)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer: Trainer) -> None:
        if trainer.step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def train_killed_at(config: Path, step: int, timeout: float = 300) -> subprocess.CompletedProcess:
    """`train` on the YAML `config` in a fresh process (as `run_cli`) that kills itself after `step`."""
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from train_helpers import KillAtStep\n"
        "from depth_anything.train.config import load_config\n"
        "from depth_anything.train.trainer import train\n"
        f"train(load_config({str(config)!r}), hooks=[KillAtStep({step})])\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)


def write_depth_folder(root: Path, count: int = 6) -> Path:
    """A dataset in the generic "folder" layout: images/NN.png + depth/NN.npy (metres)."""
    from depth_anything.io import save_image

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "depth").mkdir()
    for i in range(count):
        yy, xx = np.mgrid[0:32, 0:36].astype(np.float32)
        depth = 1.0 + xx / 12 + yy / 16 + (i % 3)
        image = (np.stack([depth / 6, 1 - depth / 6, rng.random(depth.shape)], -1) * 255).astype(np.uint8)
        save_image(root / "images" / f"{i:02d}.png", image)
        np.save(root / "depth" / f"{i:02d}.npy", depth)
    return root


def launch_two_nodes(config: Path, rdzv_id: str) -> list[subprocess.Popen]:
    """Two torchrun launchers of one process each, meeting at a c10d rendezvous on 127.0.0.1: how a
    two-node job starts, on one machine. The caller waits on (and if need be kills) both."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", rdzv_id,
               "--local-addr", "127.0.0.1", "-m", "depth_anything.cli", "train", "--config", str(config)]
    return [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
