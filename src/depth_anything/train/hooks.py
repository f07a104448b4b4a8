"""Hooks: code the caller hands the trainer to run at fixed points of the loop (a progress bar, a
test's hard kill at a chosen step), so the loop itself holds none of it.

Every hook method receives the trainer (read its `step`, `epoch`, `env`, `cfg`: the `Trainer`
protocol below) and runs on every rank; a hook that shows something decides itself whether only
rank 0 shows it. The command line installs its progress bar here; tests pass their own hooks to `train`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from .config import TrainConfig


class Trainer(Protocol):
    """What a hook may read of the trainer that calls it."""

    cfg: TrainConfig
    env: Any  # distributed.DistEnv: rank, world_size, is_main (not imported: this module stays light)
    step: int
    epoch: int


class Hook:
    """Base class: override the events you need; each does nothing by default."""

    def on_start(self, trainer: Trainer) -> None:
        """Before the first step of `fit` (after any resume: `trainer.step` is where training starts)."""

    def on_step(self, trainer: Trainer, values: dict[str, float]) -> None:
        """After an optimiser step; `values` are this rank's loss terms, learning rates and grad norm."""

    def on_log(self, trainer: Trainer, row: dict[str, Any]) -> None:
        """After a `metrics.csv` row (averaged over steps and ranks) was made."""

    def on_validation(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        """After validation (the `val.csv` row's values)."""

    def on_checkpoint(self, trainer: Trainer, path: Path) -> None:
        """After a checkpoint was written."""

    def on_step_end(self, trainer: Trainer) -> None:
        """When everything due at this step (log, validation, checkpoint) is done."""

    def on_end(self, trainer: Trainer) -> None:
        """When `fit` leaves, normally or by an exception."""
