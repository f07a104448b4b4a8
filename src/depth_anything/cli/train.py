"""Train a teacher, student, metric or temporal (video) model from a YAML config (single process or under torchrun).

Examples:
  depth-anything train --config configs/mini_teacher.yaml
  depth-anything train --config configs/mini_teacher.yaml --resume
  torchrun --nproc_per_node 8 --no-python depth-anything train --config configs/teacher_vitg.yaml
  depth-anything train --config configs/default_video.yaml        # a temporal head on clips of sequences
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..train.hooks import Hook, Trainer
from .options import HelpFormatter, library_messages


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything train`."""
    parser.formatter_class = HelpFormatter
    parser.add_argument("--config", required=True, help="training config (YAML), see configs/")
    parser.add_argument(
        "--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
        help="continue from the latest checkpoint in the run's output folder (or from CHECKPOINT)",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
        help="override a config value, e.g. --set optim.steps=100 (repeatable)",
    )
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the local rank's GPU, else the CPU)")




class ProgressBar(Hook):
    """Rank 0's progress bar (when `run.progress`), with the loss and skip count of the last log row,
    and one line per validation on stdout."""

    def __init__(self) -> None:
        self.bar: Any = None

    def on_start(self, trainer: Trainer) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=trainer.cfg.optim.steps, initial=trainer.step, desc=trainer.cfg.stage,
                        disable=not (trainer.env.is_main and trainer.cfg.run.progress), dynamic_ncols=True,
                        file=sys.stderr)

    def on_step(self, trainer: Trainer, values: dict[str, float]) -> None:
        self.bar.update(1)

    def on_log(self, trainer: Trainer, row: dict[str, Any]) -> None:
        self.bar.set_postfix(loss=f"{row['loss']:.4f}", skipped=row["skipped"])

    def on_validation(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        if trainer.env.is_main:
            labels = {"val_loss": "val_loss", "d1": "δ1", "abs_rel": "AbsRel", "tae": "TAE"}  # TAE: temporal stage
            scores = "  ".join(f"{label} {metrics[key]:.4f}" for key, label in labels.items() if key in metrics)
            self.bar.write(f"step {trainer.step}: {scores}")

    def on_end(self, trainer: Trainer) -> None:
        self.bar.close()


def run(args: argparse.Namespace) -> int:
    """Load and validate the config (before anything is built), then train."""
    from ..train.config import load_config
    from ..train.distributed import shutdown_distributed
    from ..train.trainer import train

    config = load_config(args.config, args.overrides)
    if args.device:
        config.run.device = args.device
    hooks: list[Hook] = [ProgressBar()]
    with library_messages("train"):
        try:
            result = train(config, resume=args.resume, hooks=hooks)
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
