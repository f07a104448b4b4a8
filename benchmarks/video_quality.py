"""Video depth quality on held-out rendered camera sequences: AbsRel, δ1 and TAE per model (not a test).

    python benchmarks/video_quality.py [--count 6] [--frames 32] [--size 160x120] [--seed 1000]
                                       [--data DIR] [--vda-input-size 252] [--no-vda]

Renders `--count` sequences with the synthetic engine (pans, dollies and orbits; a seed no training run
uses, so they are held out) into `--data` (kept and reused) or a temporary folder, and scores with Video
Depth Anything's protocol (one scale and shift per sequence; TAE with the rendered poses):

- `default`: the built-in per-frame model, each frame alone;
- `default + stabiliser`: the same predictions through `FlowStabilizer`;
- `VDA vits (random weights)`: the temporal model with untrained weights, for its speed only (its
  accuracy means nothing).

Besides the metrics it prints the model's wall-clock milliseconds per frame on this machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import machine_header  # date, CPU and versions above every table

from depth_anything.data.synthetic import SynthConfig
from depth_anything.data.synthetic.sequence import write_sequences
from depth_anything.eval.video import (
    SequencePredictor,
    evaluate_video,
    per_frame_predictor,
    stabilized,
    video_model_predictor,
)


def _timed(predict: SequencePredictor, clock: list[float]) -> SequencePredictor:
    """`predict`, adding its wall-clock seconds and frame count to `clock`."""

    def run(images: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        out = predict(images)
        clock[0] += time.perf_counter() - start
        clock[1] += len(images)
        return out

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=6, help="sequences (default %(default)s)")
    parser.add_argument("--frames", type=int, default=32, help="frames per sequence (default %(default)s)")
    parser.add_argument("--size", default="160x120", help="WIDTHxHEIGHT of the frames (default %(default)s)")
    parser.add_argument("--seed", type=int, default=1000, help="scene seed (default %(default)s)")
    parser.add_argument("--data", type=Path, help="folder for the sequences (kept; default a temporary one)")
    parser.add_argument("--vda-input-size", type=int, default=252, help="VDA input size (default %(default)s)")
    parser.add_argument("--no-vda", action="store_true", help="leave out the VDA vits row")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    with tempfile.TemporaryDirectory() as scratch:
        root = args.data or Path(scratch) / "sequences"
        start = time.perf_counter()
        written, _ = write_sequences(root, args.count, args.frames, seed=args.seed,
                                     config=SynthConfig(width=width, height=height))
        print(machine_header(peak=False))
        print(f"sequences: {args.count} × {args.frames} frames at {width}x{height}, seed {args.seed} "
              f"({written} rendered in {time.perf_counter() - start:.0f} s)\n")

        from depth_anything.loading import open_predictor

        predictor = open_predictor("default")
        rows: list[tuple[str, SequencePredictor, int]] = [
            ("default", per_frame_predictor(predictor.predict, 4), predictor.input_size),
            ("default + stabiliser", stabilized(per_frame_predictor(predictor.predict, 4)), predictor.input_size),
        ]
        if not args.no_vda:
            import torch

            from depth_anything.models.video_depth_anything import build_video_model

            torch.manual_seed(0)
            model = build_video_model("vits").eval()
            rows.append(("VDA vits (random weights)", video_model_predictor(model, args.vda_input_size),
                         args.vda_input_size))
        print("| Model | Input size | AbsRel ↓ | δ1 ↑ | TAE ↓ | ms / frame |\n|---|---:|---:|---:|---:|---:|")
        for label, predict, size in rows:
            clock = [0.0, 0]
            report = evaluate_video("video-synthetic", str(root), _timed(predict, clock), model_name=label,
                                    split="all")
            means = report.means()
            print(f"| {label} | {size} | {means['abs_rel']:.4f} | {means['d1']:.4f} | {means['tae']:.3f} "
                  f"| {1000 * clock[0] / max(clock[1], 1):.0f} |", flush=True)
            for entry in report.excluded:
                print(f"  excluded {entry['name']}: {entry['reason']}")


if __name__ == "__main__":
    main()
