"""Latency of one 640×480 photo through the Predictor: the built-in default model at its own input
size beside vits at 518 (random weights: speed does not depend on them), in one run, interleaved.

  python benchmarks/default_model_speed.py [--rounds 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from machine import machine_header  # date, CPU, matmul peak and versions above every table

from depth_anything import Predictor, build_model, load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    print(machine_header(), flush=True)
    torch.set_num_threads(args.threads)
    photo = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    predictors = {"default": Predictor(load_model("default", device="cpu"), prefetch=False),
                  "vits @ 518": Predictor(build_model("vits").eval(), prefetch=False)}
    times: dict[str, list[float]] = {name: [] for name in predictors}
    for predictor in predictors.values():
        predictor.predict_one(photo)  # warm-up
    for _ in range(args.rounds):
        for name, predictor in predictors.items():
            start = time.perf_counter()
            predictor.predict_one(photo)
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"640×480 photo, batch 1, {args.threads} threads, median of {args.rounds} interleaved rounds")
    print("| model | input | latency (ms) |\n|---|---|---:|")
    for name, predictor in predictors.items():
        print(f"| {name} | {predictor.input_size} px | {medians[name] * 1000:.1f} |")
    print(f"vits / default: {medians['vits @ 518'] / medians['default']:.1f}× ")


if __name__ == "__main__":
    main()
