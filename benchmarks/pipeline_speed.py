"""Whole-pipeline throughput of `depth-anything predict` against the network alone, and its start-up.

1. JPEG photos (640×480: random crops of the real photos that installed packages ship) go through
   `predict`'s own loop (reader thread, network, writer thread, side-by-side PNGs) in this process,
   in rounds interleaved with the network alone (the same model on preprocessed batches of the same
   shape); then the real command runs over a folder of 200 of them in a fresh process, start-up
   included.
2. Start-up: `depth-anything predict one.jpg` in a fresh process, median of several runs, against
   the model's own inference time for that image (a warm forward pass at the same input size).

Both sides run on the runtime that `predict` picks (`--backend`, default auto: the built-in model's
ONNX graph on onnxruntime, anything else on torch), and under the allocator policy the command sets
(`runtime.keep_freed_memory`, unless --glibc-default).

The loop runs with the writer `predict` uses (`outputs.DepthWriter`: its own PNG encoder at zlib level
1, no disk sync per file) and, in the same rounds, with the writer it had before (OpenCV's PNG encoder
at its default settings and a sync per file), so the two ratios stand side by side. Each row also
gives its CPU time per image (all threads), which programs sharing the machine do not inflate: on a
busy machine the images/s move from round to round, the CPU times much less.

    python benchmarks/pipeline_speed.py                        # the built-in default model
    python benchmarks/pipeline_speed.py --model random:vits    # vits (untrained weights: same speed)
    python benchmarks/pipeline_speed.py --quick                # fewer photos and rounds (a minute or two)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import machine_header  # date, CPU, matmul peak and versions above every table
from PIL import Image

from depth_anything.data.sample_photos import shipped_photo_paths
from depth_anything.io import load_image
from depth_anything.runtime import keep_freed_memory
from depth_anything.transforms import preprocess
from depth_anything.weights.registry import DEFAULT_MODEL


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


def model_arguments(name: str, backend: str) -> list[str]:
    if name.startswith("random:"):
        return ["--random-weights", name.split(":", 1)[1]]
    return ["--model", name, "--backend", backend]


def open_runtime_for(name: str, backend: str):
    """The runtime `predict` runs for `name` (random:ENCODER: untrained weights on torch)."""
    from depth_anything.loading import open_predictor

    if name.startswith("random:"):
        from depth_anything import build_model
        from depth_anything.inference import TorchRuntime

        return TorchRuntime(build_model(name.split(":", 1)[1]).eval())
    return open_predictor(name, backend=backend, device="cpu").runtime


def network_input(runtime, photo: Path, batch_size: int) -> np.ndarray:
    x = preprocess(load_image(photo), runtime.input_spec, runtime.normalized_input)
    return np.stack([x] * batch_size)


CPU_MS: dict[str, list[float]] = {}  # CPU time per image of each row (all threads), which other programs on the machine do not inflate


def network_rate(runtime, photo: Path, batch_size: int, images: int) -> tuple[float, tuple[int, ...]]:
    """Images per second of the network alone on batches of one preprocessed photo."""
    batch = network_input(runtime, photo, batch_size)
    runtime.run(batch)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(max(1, images // batch_size)):
        runtime.run(batch)
    count = max(1, images // batch_size) * batch_size
    CPU_MS.setdefault("network", []).append((time.process_time() - cpu) * 1000 / count)
    return count / (time.perf_counter() - start), tuple(batch.shape[1:])


def previous_writer(out: Path, metric: bool):
    """The side-by-side writer `predict` had before the outputs module: OpenCV's PNG encoder at its
    defaults (zlib level 1, Sub filter, RLE), each file synced to disk before its rename."""
    from depth_anything.io import save_image
    from depth_anything.pictures import DEFAULT_CMAP, depth_picture, side_by_side

    def write(image, result) -> None:
        save_image(out / f"{image.name}_side.png", side_by_side(result.image, depth_picture(result.depth, DEFAULT_CMAP,
                                                                                             invert=metric)))

    return write


def pipeline_rate(runtime, photos: list[Path], out: Path, batch_size: int, writer: str = "outputs") -> float:
    """Images per second of `predict`'s own loop (reader thread, network, writer threads) in this process,
    writing side-by-side PNGs with `writer` ("outputs": what predict runs; "stored": the same, PNGs stored
    without compression; "previous": `previous_writer`)."""
    import contextlib
    import io

    from depth_anything.cli.batch import BatchRun
    from depth_anything.inference import Predictor
    from depth_anything.outputs import PNG_COMPRESSION, DepthWriter

    run = BatchRun.collect([str(p) for p in photos], out)
    metric = runtime.input_spec.is_metric
    if writer == "previous":
        write = previous_writer(out, metric)
    else:
        depth_writer = DepthWriter(out, ["side"], metric, compression=0 if writer == "stored" else PNG_COMPRESSION)

        def write(image, result) -> None:
            depth_writer.write(image.name, result.image, result.depth)

    start, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        run.process(Predictor(runtime, batch_size=batch_size), write)
    CPU_MS.setdefault("pipeline" if writer == "outputs" else writer, []).append(
        (time.process_time() - cpu) * 1000 / len(photos))
    return len(photos) / (time.perf_counter() - start)


def run_command(arguments: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "depth_anything.cli", *arguments], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"depth-anything {' '.join(arguments)} failed:\n{done.stderr[-2000:]}")
    return elapsed, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model name or random:ENCODER (default: the built-in default)")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of network alone and predict's loop")
    parser.add_argument("--round-images", type=int, default=64, help="images per round (two read-ahead windows at batch 4)")
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument("--backend", default="auto", help="as predict's --backend (default auto)")
    parser.add_argument("--glibc-default", action="store_true", help="leave glibc's allocator as it is")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--skip-previous", action="store_true", help="leave out the loop with the previous writer")
    parser.add_argument("--compare-stored", action="store_true",
                        help="also run the loop with uncompressed PNGs (how much the deflating costs)")
    parser.add_argument("--quick", action="store_true",
                        help="a shorter run: 64 photos, 2 rounds of 32, 2 start-up runs (the ratios stay paired per round)")
    args = parser.parse_args()
    if args.quick:
        args.images, args.rounds, args.round_images, args.startup_runs = 64, 2, 32, 2
    print(machine_header(), flush=True)
    kept = False if args.glibc_default else keep_freed_memory()
    runtime = open_runtime_for(args.model, args.backend)
    print(f"{runtime!r}, {os.cpu_count()} CPUs; model {args.model}, batch {args.batch_size}; "
          f"freed memory kept: {kept}\n")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        photos = make_photos(folder / "photos", args.images) if not args.skip_pipeline else make_photos(folder / "photos", 1)
        if not args.skip_pipeline:
            loops = ["pipeline", *(["stored"] if args.compare_stored else []), *([] if args.skip_previous else ["previous"])]
            rates: dict[str, list[float]] = {"network": [], **{key: [] for key in loops}, "command": []}
            ratios: dict[str, list[float]] = {**{key: [] for key in loops}, "command": []}
            walls = []
            round_photos = photos[: args.round_images]
            for _ in range(args.rounds):  # interleaved, so drifts of the machine's speed hit all rows alike
                rate, shape = network_rate(runtime, photos[0], args.batch_size, len(round_photos))
                rates["network"].append(rate)
                rates["pipeline"].append(pipeline_rate(runtime, round_photos, folder / "rounds", args.batch_size))
                for key in loops[1:]:
                    rates[key].append(pipeline_rate(runtime, round_photos, folder / key, args.batch_size, writer=key))
                children = resource.getrusage(resource.RUSAGE_CHILDREN)
                wall, _ = run_command(["predict", str(folder / "photos"), "--outdir", str(folder / "out"),
                                       "--batch-size", str(args.batch_size), *model_arguments(args.model, args.backend)])
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                CPU_MS.setdefault("command", []).append(
                    (after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime) * 1000 / args.images)
                walls.append(wall)
                rates["command"].append(args.images / wall)
                for key in ratios:
                    ratios[key].append(rates[key][-1] / rate)
            median = {key: statistics.median(values) for key, values in rates.items()}
            listed = {key: ", ".join(f"{value:.2f}" for value in values) for key, values in {**rates, **{
                f"{key}_ratio": values for key, values in ratios.items()}}.items()}
            print(f"JPEG photos 640×480 → network input {shape[1]}×{shape[2]}, side-by-side PNG outputs; medians of "
                  f"{args.rounds} interleaved rounds (network alone and predict's loop on {len(round_photos)} images, "
                  f"the whole command on {args.images}); each ratio is taken within its round")
            print("| | images/s | × network alone (per round) | CPU ms per image (all threads) |\n|---|---:|---:|---:|")

            def cpu(key: str) -> str:
                return f"{statistics.median(CPU_MS[key]):.1f}" if key in CPU_MS else "–"

            print(f"| network alone (preprocessed batches; rounds {listed['network']}) | {median['network']:.2f} | 1.00 | {cpu('network')} |")
            print(f"| predict's loop: decode, preprocess, network, resize, write (rounds {listed['pipeline']}) | "
                  f"{median['pipeline']:.2f} | **{statistics.median(ratios['pipeline']):.2f}** ({listed['pipeline_ratio']}) | {cpu('pipeline')} |")
            if "stored" in loops:
                print(f"| the same loop, PNGs stored uncompressed (rounds {listed['stored']}) | {median['stored']:.2f} | "
                      f"{statistics.median(ratios['stored']):.2f} ({listed['stored_ratio']}) | {cpu('stored')} |")
            if "previous" in loops:
                print(f"| the same loop with the previous writer: OpenCV PNG defaults, a sync per file (rounds "
                      f"{listed['previous']}) | {median['previous']:.2f} | {statistics.median(ratios['previous']):.2f} "
                      f"({listed['previous_ratio']}) | {cpu('previous')} |")
            print(f"| `depth-anything predict` on {args.images} photos, whole command incl. start-up (rounds "
                  f"{', '.join(f'{w:.1f}' for w in walls)} s) | {median['command']:.2f} | "
                  f"**{statistics.median(ratios['command']):.2f}** ({listed['command_ratio']}) | {cpu('command')} |\n")

        one = photos[0]
        batch = network_input(runtime, one, 1)
        runtime.run(batch)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            runtime.run(batch)
            times.append(time.perf_counter() - start)
        forward = statistics.median(times)
        walls = [run_command(["predict", str(one), "--outdir", str(folder / "one"),
                              *model_arguments(args.model, args.backend)])[0] for _ in range(args.startup_runs)]
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
        print(f"| the model's own inference (warm forward, input {batch.shape[2]}×{batch.shape[3]}) | {forward:.3f} |")
        print(f"| overhead (import, load, read, write) | {wall - forward:.2f} |")
        print(f"| of which a bare `python -c 'import torch'` | {statistics.median(bare):.2f} |")
        print(f"| `depth-anything --help` (imports every command module) | {statistics.median(imports):.2f} |")


if __name__ == "__main__":
    main()
