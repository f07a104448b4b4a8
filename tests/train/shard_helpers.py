"""Helpers of the shard labelling tests: input shards of rendered images, reading label shards back."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import cv2

from depth_anything.data.shards import write_shard
from depth_anything.data.synthetic import SynthConfig, generate_sample

# the built-in model at the smallest input size: labels in milliseconds
LABEL_ARGS = {"input_size": 28, "batch_size": 2, "device": "cpu"}


def write_image_shards(root: Path, shards: int = 3, per_shard: int = 4, seed: int = 5) -> list[Path]:
    """`shards` WebDataset-style shards of rendered 40×32 PNG images (keys s<shard>/<n>, each with a
    .json member the labeller ignores), as `data-000.tar`, `data-001.tar`, ..."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(shards):
        samples = []
        for i in range(per_shard):
            rgb = generate_sample(seed, s * 100 + i, SynthConfig(width=40, height=32)).image
            ok, png = cv2.imencode(".png", rgb[..., ::-1])
            assert ok
            samples.append((f"s{s}/{i:03d}", {"png": png.tobytes(), "json": b'{"source": "rendered"}'}))
        paths.append(root / f"data-{s:03d}.tar")
        write_shard(paths[-1], samples)
    return paths


def shard_keys(path: Path) -> list[str]:
    """The sample keys of a label shard, in file order (one per .json member)."""
    with tarfile.open(path) as archive:
        return [m.name.removesuffix(".json") for m in archive.getmembers() if m.name.endswith(".json")]


def label_subprocess(*args: str, nproc: int = 0, timeout: float = 300) -> subprocess.CompletedProcess:
    """`depth-anything label ARGS` in fresh processes: torchrun with `nproc` processes, or one plain process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--standalone"]
    command = [*(launcher if nproc else [sys.executable]), "-m", "depth_anything.cli", "label", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
