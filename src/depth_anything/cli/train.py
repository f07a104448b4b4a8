"""Train a teacher, student or metric model from a YAML config (single process or under torchrun).

Examples:
  depth-anything train --config configs/mini_teacher.yaml
  depth-anything train --config configs/mini_teacher.yaml --resume
  torchrun --nproc_per_node 8 --no-python depth-anything train --config configs/teacher_vitg.yaml
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything train`."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--config", required=True, help="training config (YAML), see configs/")
    parser.add_argument(
        "--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
        help="continue from the latest checkpoint in the run's output folder (or from CHECKPOINT)",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
        help="override a config value, e.g. --set optim.steps=100 (repeatable)",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: the local rank's GPU, else CPU)")


def run(args: argparse.Namespace) -> int:
    """Load and validate the config (before anything is built), then train."""
    from ..train.config import load_config
    from ..train.distributed import shutdown_distributed
    from ..train.trainer import train

    config = load_config(args.config, args.overrides)
    if args.device:
        config.run.device = args.device
    try:
        result = train(config, resume=args.resume)
    finally:
        shutdown_distributed()
    if result.final_model is not None:
        last = result.history[-1]["loss"] if result.history else float("nan")
        print(
            f"trained {result.step} steps (final logged loss {last:.4f}, {result.skipped} samples skipped); "
            f"weights: {result.final_model}; log: {result.output_dir / 'metrics.csv'}",
            file=sys.stderr,
        )
    return 0
