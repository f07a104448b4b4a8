"""Throughput of `depth-anything label` on shards, side by side in one run, and the size of the index.

    python benchmarks/label_throughput.py [--images 192] [--size 160x120] [--input-size 112]

Rendered images are written once as a folder and once as shards of 16; then, each with the built-in
`default` model on the CPU, every process with one thread:

- folder vs shards (one process, no quality score, as folder mode has none);
- the cost of the quality score (shards with and without the mirrored pass);
- torchrun with 2 processes vs 1 (the command as users run it; images/s over the slowest rank's
  labelling time, and wall time including start-up);
- Ray Data with 2 actors on a local cluster vs torchrun with 2 processes, and with the actors writing
  the label shards themselves (--ray-writes workers) vs the driver writing them;
- the index of 1 million simulated labels (1000 shards of 1000) vs the folder mode's manifest.

Timings are noisy on a machine shared with other jobs; the ratios are what to read.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from machine import machine_header

from depth_anything.data.pseudo import MANIFEST_FORMAT
from depth_anything.data.shards import IndexEntry, read_index, write_shard
from depth_anything.data.synthetic import SynthConfig, generate_sample


def write_inputs(root: Path, count: int, width: int, height: int) -> tuple[Path, str]:
    """The same rendered images as a folder of PNGs and as shards of 16; (folder, shard pattern)."""
    folder = root / "folder"
    folder.mkdir(parents=True)
    samples = []
    for i in range(count):
        rgb = generate_sample(11, i, SynthConfig(width=width, height=height)).image
        ok, png = cv2.imencode(".png", rgb[..., ::-1])
        (folder / f"{i:05d}.png").write_bytes(png.tobytes())
        samples.append((f"{i:05d}", {"png": png.tobytes()}))
    shards = (count + 15) // 16
    for s in range(shards):
        write_shard(root / "shards" / f"in-{s:04d}.tar", samples[16 * s : 16 * s + 16])
    return folder, str(root / "shards" / f"in-{{0000..{shards - 1:04d}}}.tar")


def run_label(args: list[str], nproc: int = 0) -> tuple[float, float]:
    """`depth-anything label ARGS` in fresh processes (torchrun with `nproc`, or one plain process):
    (images/s as the command reports it, wall seconds including start-up)."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--standalone"]
    return timed_label([*(launcher if nproc else [sys.executable]), "-m", "depth_anything.cli", "label", *args,
                        "--no-progress"])


def timed_label(command: list[str]) -> tuple[float, float]:
    """Run a labelling `command` with one thread per process: (the images/s it prints, wall seconds)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:6])} ... failed: {done.stderr[-2000:]}")
    rate = re.search(r"\(([\d.]+) images/s\)", done.stdout)
    assert rate is not None, done.stdout
    return float(rate.group(1)), wall


def run_ray(pattern: str, out: Path, common: list[str], writes: str = "driver") -> tuple[float, float]:
    """The Ray engine with 2 actors on a fresh local cluster of 3 CPUs (its start-up included in wall);
    `writes`: who writes the label shards (--ray-writes)."""
    code = (
        "import ray, sys\n"
        "ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)\n"
        "from depth_anything.cli.__main__ import main\n"
        f"sys.exit(main(['label', '--data', {pattern!r}, '--outdir', {str(out)!r}, '--engine', 'ray', "
        f"'--ray-actors', '2', '--ray-writes', {writes!r}, '--no-progress', *{common!r}]))\n"
    )
    return timed_label([sys.executable, "-c", code])


def index_vs_manifest(root: Path, labels: int = 1_000_000, per_shard: int = 1000) -> list[tuple[str, int, float]]:
    """(what, bytes, seconds to read) of an index of `labels` simulated labels and of the folder mode's
    manifest for as many images."""
    rng = np.random.default_rng(0)
    out = root / "index-sim"
    out.mkdir()
    with open(out / "index.jsonl", "w", encoding="utf-8") as index:
        for s in range(labels // per_shard):
            entry = IndexEntry(f"labels-{s:06d}.tar", f"s3://bucket/photos/{s:06d}.tar", per_shard,
                               f"{rng.integers(0, 2**63):064x}", "f58c0d58223aeb34",
                               rng.random(per_shard).astype(np.float16))
            index.write(entry.to_line())
    start = time.perf_counter()
    read_index(out)
    index_seconds = time.perf_counter() - start
    manifest = {  # as `write_manifest` writes it
        "format": MANIFEST_FORMAT, "encoding": "npy16", "depth_kind": "disparity",
        "scaling": "per-image maximum = 1", "images_root": "/data/photos", "teacher": {"model": "teacher.pt"},
        "count": labels,
        "samples": [{"image": f"{i // 1000:06d}/{i:09d}.jpg", "label": f"labels/{i // 1000:06d}/{i:09d}.jpg.npy"}
                    for i in range(labels)],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    del manifest
    start = time.perf_counter()
    json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest_seconds = time.perf_counter() - start
    return [("index.jsonl (1000 lines, with per-sample quality)", (out / "index.jsonl").stat().st_size, index_seconds),
            ("manifest.json (folder mode)", (out / "manifest.json").stat().st_size, manifest_seconds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=192)
    parser.add_argument("--size", default="160x120", help="rendered image size WxH")
    parser.add_argument("--input-size", type=int, default=112, help="the teacher's input size")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    print(machine_header())
    common = ["--input-size", str(args.input_size), "--batch-size", "4", "--device", "cpu"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder, pattern = write_inputs(root, args.images, width, height)
        rows: list[tuple[str, float, float]] = []

        def measure(name: str, result: tuple[float, float]) -> None:
            rows.append((name, *result))
            print(f"  {name}: {result[0]:.2f} images/s, {result[1]:.1f} s wall", file=sys.stderr)

        measure("folder, 1 process", run_label(["--data", str(folder), "--outdir", str(root / "o1"), *common]))
        measure("shards, 1 process, no score",
                run_label(["--data", pattern, "--outdir", str(root / "o2"), "--no-quality", *common]))
        measure("shards, 1 process, with score", run_label(["--data", pattern, "--outdir", str(root / "o3"), *common]))
        measure("shards, torchrun 1 process", run_label(["--data", pattern, "--outdir", str(root / "o4"), *common],
                                                        nproc=1))
        measure("shards, torchrun 2 processes", run_label(["--data", pattern, "--outdir", str(root / "o5"), *common],
                                                          nproc=2))
        if not args.skip_ray:
            measure("shards, Ray Data, 2 actors", run_ray(pattern, root / "o6", common))
            measure("shards, Ray Data, 2 actors writing", run_ray(pattern, root / "o7", common, writes="workers"))
        base = {name: rate for name, rate, _ in rows}
        print(f"\n{args.images} rendered {width}×{height} images, shards of 16, built-in default model at input size "
              f"{args.input_size}, batch 4, one thread per process\n")
        print("| run | images/s | wall s (with start-up) | ratio |")
        print("|---|---|---|---|")
        reference = {
            "shards, 1 process, no score": "folder, 1 process",
            "shards, 1 process, with score": "shards, 1 process, no score",
            "shards, torchrun 2 processes": "shards, torchrun 1 process",
            "shards, Ray Data, 2 actors": "shards, torchrun 2 processes",
            "shards, Ray Data, 2 actors writing": "shards, Ray Data, 2 actors",
        }
        for name, rate, wall in rows:
            ratio = f"{rate / base[reference[name]]:.2f}× {reference[name]}" if name in reference else ""
            print(f"| {name} | {rate:.2f} | {wall:.1f} | {ratio} |")
        print("\n| 1 million labels | bytes | seconds to read |")
        print("|---|---|---|")
        for name, size, seconds in index_vs_manifest(root):
            print(f"| {name} | {size / 1e6:.1f} MB | {seconds:.2f} |")


if __name__ == "__main__":
    main()
