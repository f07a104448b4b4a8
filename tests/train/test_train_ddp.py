"""`depth-anything train` and `label` under torchrun: 2 CPU processes with gloo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from train_helpers import launch_two_nodes, make_config, write_config

from depth_anything.io import list_images
from depth_anything.train.checkpoints import weights_digest


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
               "-m", "depth_anything.cli", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_two_processes_train_identical_replicas_and_shard_labels(
    tmp_path: Path, synth_root: Path, photos: Path
) -> None:
    out = tmp_path / "run"
    config = make_config(out, train=[{"layout": "synthetic", "root": str(synth_root), "split": "train"}],
                         optim={"steps": 4, "batch_size": 4}, run={"checkpoint_every": 2})
    trained = _torchrun("train", "--config", str(write_config(tmp_path / "ddp.yaml", config)))
    assert trained.returncode == 0, trained.stderr[-3000:]

    for step in (2, 4):
        checkpoint = torch.load(out / "checkpoints" / f"step_{step:07d}.pt", weights_only=True)
        digests = checkpoint["replica_digests"]
        # each rank hashed its own replica; both equal the weights rank 0 saved
        assert len(digests) == 2 and digests[0] == digests[1] == weights_digest(checkpoint["model"])
        assert len(checkpoint["rng"]) == 2 and not torch.equal(checkpoint["rng"][0]["torch"], checkpoint["rng"][1]["torch"])
    first = torch.load(out / "checkpoints" / "step_0000002.pt", weights_only=True)
    assert first["replica_digests"][0] != digests[0]  # training moved the weights

    labeled = _torchrun("label", "--model", str(out / "model.pt"), "--images", str(photos), "--out",
                        str(tmp_path / "pseudo"), "--input-size", "28", "--no-progress")
    assert labeled.returncode == 0, labeled.stderr[-3000:]
    count = len(list_images(photos))
    # per-rank counts add up to the number of images: the ranks labeled disjoint shards
    assert f"labeled {count} images" in labeled.stdout and labeled.stdout.count("images/s") == 1
    assert len(list((tmp_path / "pseudo" / "labels").rglob("*.npy"))) == count


def test_two_nodes_by_torchrun_rendezvous(tmp_path: Path, synth_root: Path) -> None:
    """Multi-node as torchrun does it: two launchers ("nodes", one process each) meet at a c10d
    rendezvous on 127.0.0.1 and train one job of world size 2."""
    out = tmp_path / "run"
    config = write_config(tmp_path / "nodes.yaml", make_config(
        out, train=[{"layout": "synthetic", "root": str(synth_root), "split": "train"}],
        optim={"steps": 2, "batch_size": 4}, run={"checkpoint_every": 2}))
    launchers = launch_two_nodes(config, "two-nodes")
    outputs = [launcher.communicate(timeout=300) for launcher in launchers]
    assert all(launcher.returncode == 0 for launcher in launchers), [err[-2000:] for _, err in outputs]
    checkpoint = torch.load(out / "checkpoints" / "step_0000002.pt", weights_only=True)
    assert len(checkpoint["replica_digests"]) == 2
    assert checkpoint["replica_digests"][0] == checkpoint["replica_digests"][1] == weights_digest(checkpoint["model"])
