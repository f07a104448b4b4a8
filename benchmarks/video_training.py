"""The built-in video model against the built-in per-frame model on held-out rendered sequences (not a test).

    python benchmarks/video_training.py --model runs/default_video/model.pt [--data DIR] [--count 9]
        [--frames 32] [--size 160x120] [--seed 1000] [--config configs/default_video.yaml] [--speed-steps 5]

Renders `--count` camera sequences (a scene seed no training run uses: held out) into `--data` (kept and
reused) and scores with Video Depth Anything's protocol (one scale and shift per sequence; AbsRel, δ1 and
TAE with the rendered poses), all at the built-in models' input size:

- `default`: the built-in per-frame model, each frame alone;
- `default + stabiliser`: the same predictions through `FlowStabilizer`;
- `default, video path (step 0)`: the temporal network before training (motion modules zero-initialised,
  so each window predicts what `default` does) through the offline windows: what the windows' keyframe
  alignment alone does;
- `trained temporal head`: `--model`, through the offline windows.

With `--config` it also trains that config for `--speed-steps` steps in a scratch folder (after one
warm-up step) and prints the training steps per second on this machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
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


def training_speed(config_path: Path, steps: int) -> float:
    """Steps per second of `config_path`'s training loop (data loading included), after one warm-up step."""
    from depth_anything.train.config import load_config
    from depth_anything.train.trainer import Trainer

    with tempfile.TemporaryDirectory() as scratch:
        config = load_config(config_path, [f"run.output_dir={scratch}/run", "data.val=[]", "run.progress=false"])
        trainer = Trainer(config)
        batches = trainer._usable_batches()
        trainer._train_step(next(batches))
        start = time.perf_counter()
        for _ in range(steps):
            trainer._train_step(next(batches))
        return steps / (time.perf_counter() - start)


def untrained_video_model(config_path: Path) -> torch.nn.Module:
    """The temporal network of `config_path` as it starts (the image model's encoder and head, motion
    modules with a zero output projection)."""
    from depth_anything.train.config import load_config
    from depth_anything.train.temporal import build_temporal_model

    return build_temporal_model(load_config(config_path, ["data.val=[]"])).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="the trained temporal model (model.pt)")
    parser.add_argument("--config", type=Path, default=Path("configs/default_video.yaml"),
                        help="its training config (step-0 row and training speed; default %(default)s)")
    parser.add_argument("--count", type=int, default=9, help="sequences (default %(default)s)")
    parser.add_argument("--frames", type=int, default=32, help="frames per sequence (default %(default)s)")
    parser.add_argument("--size", default="160x120", help="WIDTHxHEIGHT of the frames (default %(default)s)")
    parser.add_argument("--seed", type=int, default=1000, help="scene seed (default %(default)s)")
    parser.add_argument("--data", type=Path, help="folder for the sequences (kept; default a temporary one)")
    parser.add_argument("--speed-steps", type=int, default=5, help="training steps timed (0: skip; default %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    from depth_anything import load_model
    from depth_anything.loading import open_predictor

    with tempfile.TemporaryDirectory() as scratch:
        root = args.data or Path(scratch) / "sequences"
        written, _ = write_sequences(root, args.count, args.frames, seed=args.seed,
                                     config=SynthConfig(width=width, height=height))
        print(machine_header(peak=False))
        print(f"sequences: {args.count} × {args.frames} frames at {width}x{height}, seed {args.seed} "
              f"({written} rendered now)\n")
        predictor = open_predictor("default")
        size = predictor.input_size
        trained = load_model(args.model, device="cpu")
        rows: list[tuple[str, SequencePredictor]] = [
            ("default (per frame)", per_frame_predictor(predictor.predict, 4)),
            ("default + stabiliser", stabilized(per_frame_predictor(predictor.predict, 4))),
            ("default, video path (step 0)", video_model_predictor(untrained_video_model(args.config), size)),
            ("trained temporal head", video_model_predictor(trained, size)),
        ]
        results = {}
        print("| Model | AbsRel ↓ | δ1 ↑ | TAE ↓ | ms / frame |\n|---|---:|---:|---:|---:|")
        for label, predict in rows:
            clock = [0.0, 0]

            def timed(images: np.ndarray, predict: SequencePredictor = predict, clock: list = clock) -> np.ndarray:
                start = time.perf_counter()
                out = predict(images)
                clock[0] += time.perf_counter() - start
                clock[1] += len(images)
                return out

            report = evaluate_video("video-synthetic", str(root), timed, model_name=label, split="all")
            means = report.means()
            results[label] = {**means, "ms_per_frame": 1000 * clock[0] / max(clock[1], 1),
                              "per_sequence": report.rows}
            print(f"| {label} | {means['abs_rel']:.4f} | {means['d1']:.4f} | {means['tae']:.3f} "
                  f"| {results[label]['ms_per_frame']:.0f} |", flush=True)
        if args.speed_steps > 0:
            speed = training_speed(args.config, args.speed_steps)
            results["training_steps_per_s"] = speed
            print(f"\ntraining ({args.config}): {speed:.3f} steps/s ({1 / speed:.2f} s/step) over {args.speed_steps} steps")
        if args.json:
            args.json.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
