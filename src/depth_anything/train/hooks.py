"""Hooks: code the caller hands the trainer to run at fixed points of the loop (a progress bar, the
crash test), so the loop itself holds none of it.

Every hook method receives the trainer (read its `step`, `epoch`, `env`, `cfg`: the `Trainer`
protocol below) and runs on every rank; a hook that shows something decides itself whether only
rank 0 shows it. The command line installs its progress bar and, when asked, the crash test here.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, Protocol

from .config import TrainConfig

# Crash-test aid: when set, `KillAtStep.from_env()` gives a hook that SIGKILLs the process right after
# finishing this step (and any checkpoint due at it), so tests can exercise `--resume` on a real hard
# kill at a known point.
KILL_AT_STEP_ENV = "DEPTH_ANYTHING_KILL_AT_STEP"


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


class KillAtStep(Hook):
    """Crash test: SIGKILL this process once step `step` and whatever was due at it are done."""

    def __init__(self, step: int) -> None:
        self.step = step

    @classmethod
    def from_env(cls) -> KillAtStep | None:
        """The hook `$DEPTH_ANYTHING_KILL_AT_STEP` asks for (None when unset, empty or 0)."""
        step = int(os.environ.get(KILL_AT_STEP_ENV, "0") or 0)
        return cls(step) if step else None

    def on_step_end(self, trainer: Trainer) -> None:
        if trainer.step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)
