"""How latency and peak memory grow with the input size: vits and the built-in default model at 518,
714, 1022 and 1526 px (square inputs; patch-16 models at the nearest multiple of 16), whole-image
inference against the tiled high-resolution mode, each size in a fresh process.

Latency is one forward pass after a warm-up at a small size; peak memory is the rise of live heap
memory during a second pass (glibc's mallinfo2 sampled after every tensor operation, as in
`model_speed.py`; Linux only). Writes the table and a plot (`--plot`, default assets/cost_growth.png).

    python benchmarks/cost_growth.py [--sizes 518 714 1022 1526] [--models random:vits default] [--plot FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from machine import machine_header  # date, CPU, matmul peak and versions above every table
from model_speed import _PeakHeap  # the same heap meter as the model benchmark

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str):
    from depth_anything import build_model, load_model

    return build_model(name.split(":", 1)[1]).eval() if name.startswith("random:") else load_model(name, device="cpu")


def child(name: str, side: int, tiled: bool) -> None:
    """In a fresh process: latency and peak heap rise of one image of side × side pixels."""
    from depth_anything import Predictor, Tiling

    model = _load(name)
    multiple = model.config.patch_size
    side = round(side / multiple) * multiple
    if tiled:
        tile = model.input_spec.input_size // multiple * multiple
        predictor = Predictor(model, batch_size=4, tiling=Tiling(tile), keep_images=False, prefetch=False)
        image = np.random.default_rng(0).integers(0, 255, (side, side, 3), dtype=np.uint8)

        def run() -> None:
            predictor.predict([image])
    else:
        x = torch.randn(1, 3, side, side)

        def run() -> None:
            model(x)

    with torch.inference_mode():
        model(torch.randn(1, 3, 4 * multiple, 4 * multiple))  # warm-up: thread pool, kernels
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
        with _PeakHeap() as meter:
            run()
    print(json.dumps({"side": side, "seconds": seconds, "peak_mib": (meter.peak - meter.base) / 2**20}))


def measure(name: str, side: int, tiled: bool) -> dict:
    command = [sys.executable, __file__, "--child", name, str(side), str(int(tiled))]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    for (model, tiled), group in _groups(rows).items():
        label = f"{model}{' tiled' if tiled else ''}"
        style = "--" if tiled else "-"
        sides = [r["side"] for r in group]
        left.plot(sides, [r["seconds"] for r in group], style, marker="o", label=label)
        right.plot(sides, [r["peak_mib"] for r in group], style, marker="o", label=label)
    for axis, title, unit in ((left, "latency, one image (log scale)", "seconds"), (right, "peak live memory", "MiB")):
        axis.set_xscale("log")
        axis.set_yscale("log" if axis is left else "linear")
        axis.set_xticks([518, 714, 1022, 1526], ["518", "714", "1022", "1526"])
        axis.minorticks_off()
        axis.set_xlabel("input side (px, square)")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="major", alpha=0.3)
        axis.legend()
    figure.suptitle(f"cost growth on CPU ({torch.get_num_threads()} threads, fp32)")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)


def _groups(rows: list[dict]) -> dict[tuple[str, bool], list[dict]]:
    groups: dict[tuple[str, bool], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["tiled"]), []).append(row)
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[518, 714, 1022, 1526])
    parser.add_argument("--models", nargs="+", default=["random:vits", "default"])
    parser.add_argument("--no-tiled", action="store_true", help="leave out the tiled mode")
    parser.add_argument("--plot", type=Path, default=ROOT / "assets" / "cost_growth.png")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    print(machine_header(), flush=True)
    if args.child:
        child(args.child[0], int(args.child[1]), bool(int(args.child[2])))
        return
    rows = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, fp32, one image per size\n")
    print("| model | mode | side | latency (s) | s per megapixel | peak memory rise (MiB) |\n|---|---|---:|---:|---:|---:|")
    for name in args.models:
        for tiled in (False,) if args.no_tiled else (False, True):
            for side in args.sizes:
                row = {"model": name.removeprefix("random:"), "tiled": tiled, **measure(name, side, tiled)}
                rows.append(row)
                megapixels = row["side"] ** 2 / 1e6
                print(f"| {row['model']} | {'tiled' if tiled else 'whole image'} | {row['side']} | {row['seconds']:.2f} | "
                      f"{row['seconds'] / megapixels:.2f} | {row['peak_mib']:.0f} |", flush=True)
    plot(rows, args.plot)
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
