"""Whole-pipeline throughput of `depth-anything predict` against the network alone, and its start-up.

1. A folder of JPEG photos (default 200, 640×480: random crops of the real photos that installed
   packages ship) goes through the real command in a fresh process; its wall time and the rate of
   its own summary line (which leaves out import and model loading) are set against the network
   alone: the same model run on preprocessed batches of the same shape in this process, timed before
   and after the command (mean of both).
2. Start-up: `depth-anything predict one.jpg` in a fresh process, median of several runs, against
   the model's own inference time for that image (a warm forward pass at the same input size).

    python benchmarks/pipeline_speed.py                        # the built-in default model
    python benchmarks/pipeline_speed.py --model random:vits    # vits (untrained weights: same speed)
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from depth_anything.data.sample_photos import shipped_photo_paths
from depth_anything.io import load_image
from depth_anything.transforms import preprocess


def make_photos(folder: Path, count: int, size: tuple[int, int] = (640, 480), seed: int = 0) -> list[Path]:
    """`count` JPEG files of `size` (width, height): random crops and mirror images of the shipped photos."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources = [rgb for rgb in map(load_image, shipped_photo_paths()) if min(rgb.shape[:2]) >= 300]
    width, height = size
    paths = []
    for i in range(count):
        rgb = sources[i % len(sources)]
        scale = rng.uniform(0.6, 1.0)
        crop_h, crop_w = int(rgb.shape[0] * scale), int(rgb.shape[1] * scale)
        top, left = rng.integers(0, rgb.shape[0] - crop_h + 1), rng.integers(0, rgb.shape[1] - crop_w + 1)
        crop = rgb[top : top + crop_h, left : left + crop_w]
        crop = crop[:, ::-1] if rng.random() < 0.5 else crop
        picture = Image.fromarray(np.ascontiguousarray(crop)).convert("RGB").resize((width, height), Image.BICUBIC)
        paths.append(folder / f"photo_{i:04d}.jpg")
        picture.save(paths[-1], quality=90)
    return paths


def model_arguments(name: str) -> list[str]:
    return ["--random-weights", name.split(":", 1)[1]] if name.startswith("random:") else ["--model", name]


def load(name: str):
    from depth_anything import build_model, load_model

    return build_model(name.split(":", 1)[1]).eval() if name.startswith("random:") else load_model(name, device="cpu")


def network_rate(model, photo: Path, batch_size: int, images: int) -> tuple[float, tuple[int, ...]]:
    """Images per second of the network alone on batches of one preprocessed photo."""
    x = preprocess(load_image(photo), model.input_spec)
    batch = torch.from_numpy(np.stack([x] * batch_size))
    with torch.inference_mode():
        model(batch)
        start = time.perf_counter()
        for _ in range(max(1, images // batch_size)):
            model(batch)
    return max(1, images // batch_size) * batch_size / (time.perf_counter() - start), tuple(x.shape)


def run_command(arguments: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "depth_anything.cli", *arguments], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"depth-anything {' '.join(arguments)} failed:\n{done.stderr[-2000:]}")
    return elapsed, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="model name or random:ENCODER (default: the built-in default)")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--network-images", type=int, default=None, help="images for the network-only rate (default: min(images, 48))")
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument("--skip-pipeline", action="store_true")
    args = parser.parse_args()
    model = load(args.model)
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads, CPU; model {args.model}, batch {args.batch_size}\n")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        photos = make_photos(folder / "photos", args.images) if not args.skip_pipeline else make_photos(folder / "photos", 1)
        network_images = args.network_images or min(args.images, 48)
        if not args.skip_pipeline:
            before, shape = network_rate(model, photos[0], args.batch_size, network_images)
            wall, output = run_command(["predict", str(folder / "photos"), "--outdir", str(folder / "out"),
                                        "--batch-size", str(args.batch_size), *model_arguments(args.model)])
            after, _ = network_rate(model, photos[0], args.batch_size, network_images)
            network = (before + after) / 2
            steady = float(re.search(r"\(([\d.]+) images/s\)", output).group(1))
            print(f"{args.images} JPEG photos 640×480 → network input {shape[1]}×{shape[2]}, side-by-side PNG outputs")
            print("| | images/s | × network alone |\n|---|---:|---:|")
            print(f"| network alone (preprocessed batches; before {before:.2f}, after {after:.2f}) | {network:.2f} | 1.00 |")
            print(f"| `predict` folder, its own rate (decode, preprocess, network, resize, write) | {steady:.2f} | "
                  f"{steady / network:.2f} |")
            print(f"| `predict` folder, whole command incl. start-up ({wall:.1f} s) | {args.images / wall:.2f} | "
                  f"{args.images / wall / network:.2f} |\n")

        one = photos[0]
        x = preprocess(load_image(one), model.input_spec)
        with torch.inference_mode():
            batch = torch.from_numpy(x[None])
            model(batch)
            times = []
            for _ in range(5):
                start = time.perf_counter()
                model(batch)
                times.append(time.perf_counter() - start)
        forward = statistics.median(times)
        walls = [run_command(["predict", str(one), "--outdir", str(folder / "one"), *model_arguments(args.model)])[0]
                 for _ in range(args.startup_runs)]
        imports = [run_command(["--help"])[0] for _ in range(args.startup_runs)]
        bare = []
        for _ in range(args.startup_runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import torch"], check=True)
            bare.append(time.perf_counter() - start)
        wall = statistics.median(walls)
        print(f"start-up: `depth-anything predict one.jpg` (640×480, {args.model}), median of {args.startup_runs}")
        print("| | s |\n|---|---:|")
        print(f"| whole command | {wall:.2f} |")
        print(f"| the model's own inference (warm forward, input {x.shape[1]}×{x.shape[2]}) | {forward:.3f} |")
        print(f"| overhead (import, load, read, write) | {wall - forward:.2f} |")
        print(f"| of which a bare `python -c 'import torch'` | {statistics.median(bare):.2f} |")
        print(f"| `depth-anything --help` (imports every command module) | {statistics.median(imports):.2f} |")


if __name__ == "__main__":
    main()
