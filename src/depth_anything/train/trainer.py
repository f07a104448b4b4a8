"""The training loop of every stage (teacher, student, metric, temporal), single-process or under torchrun.

What makes it safe to run for days:
- checkpoints hold model, optimiser, scheduler, grad scaler, every rank's RNG and the data position,
  are written atomically, and `resume=True` continues so exactly that the final weights equal those
  of an uninterrupted run with the same seed (`checkpoints`);
- a missing or unreadable sample is reported with its path, skipped and counted (`skipped` column);
- a non-finite loss or gradient stops the run naming the step and samples, and the last good
  checkpoint is left untouched.

What is trained comes from `setup` (network, starting weights, optimiser, precision), the data from
`loading`, the loss from `objective`, the scores from `validation` (for the temporal stage all four
from `temporal`: clips, a video network on a frozen encoder, VDA's loss, TAE), the CSV logs from `logs`; anything
else that should happen during the loop (a progress bar, the crash test) is a `hooks.Hook` passed in.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import CheckpointMismatchError, ConfigError, DatasetError, DepthAnythingError
from ..io import atomic_write_text
from ..weights import save_checkpoint as save_model_file
from .checkpoints import (
    CHECKPOINT_FORMAT,
    CheckpointFolder,
    capture_rng_state,
    plain,
    read_training_checkpoint,
    restore_rng_state,
    weights_digest,
)
from .config import TrainConfig
from .distributed import all_gather_objects, all_reduce_sum, init_distributed, on_main
from .hooks import Hook
from .loading import build_dataset, collate_samples, make_loader, report_skipped, to_device
from .logs import TRAIN_COLUMNS, VAL_COLUMNS, CsvLog, window_means
from .objective import Objective
from .schedule import EpochShardSampler, WarmupPoly
from .setup import (
    TrainForward,
    amp_dtype,
    autocast,
    build_optimizer,
    build_reference,
    build_train_model,
    feature_layer,
    grad_scaler,
    seed_everything,
)
from .temporal import (
    ClipForward,
    ClipObjective,
    ClipValidator,
    build_clip_dataset,
    build_temporal_model,
    check_temporal_config,
    collate_clips,
)
from .validation import Validator

log = logging.getLogger(__name__)


class TrainingDivergedError(DepthAnythingError, FloatingPointError):
    """The loss or gradients became NaN/inf; the message names the step, samples and last checkpoint."""


@dataclass
class TrainResult:
    """What a finished run produced."""

    step: int
    output_dir: Path
    final_model: Path | None
    last_checkpoint: Path | None
    skipped: int
    history: list[dict[str, float]] = field(default_factory=list)


class Trainer:
    """Builds model, data and optimiser from a `TrainConfig`; `fit()` runs to `optim.steps`, calling
    `hooks` at the points `hooks.Hook` names."""

    def __init__(self, config: TrainConfig, resume: bool | str | Path = False, hooks: Sequence[Hook] = ()) -> None:
        self.cfg = config
        self.hooks = list(hooks)
        self.env, self.device = init_distributed(config.run.device)
        self.output_dir = Path(config.run.output_dir)
        self.checkpoint_dir = self.output_dir / "checkpoints"
        self.checkpoints = CheckpointFolder(self.checkpoint_dir, config.run.keep_checkpoints)
        if config.optim.batch_size % self.env.world_size:
            raise ConfigError(
                f"key 'optim.batch_size': global batch {config.optim.batch_size} is not divisible by the "
                f"{self.env.world_size} processes"
            )
        self.batch_per_rank = config.optim.batch_size // self.env.world_size
        # rank 0 reads `latest` and every rank uses its answer (so all ranks resume from one file)
        existing = on_main(self.latest_checkpoint, f"read {self.checkpoint_dir / 'latest'}")
        if not resume and existing is not None:  # never clobber a run by forgetting to resume
            raise ConfigError(
                f"key 'run.output_dir': {self.output_dir} already holds a run (latest checkpoint {existing}); "
                "continue it with resume=True or choose a new output folder"
            )
        seed_everything(config.run.seed)  # same on every rank: identical initial weights
        temporal = config.stage == "temporal"  # the temporal head on clips: its parts come from `temporal`
        if temporal:
            check_temporal_config(config)
        self.model = (build_temporal_model if temporal else build_train_model)(config).to(self.device)
        self.reference = None if temporal else build_reference(config, self.model, self.device)
        self.forward: nn.Module = ClipForward(self.model) if temporal else TrainForward(self.model)
        if self.env.enabled:
            self.forward = DistributedDataParallel(
                self.forward, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.optimizer = build_optimizer(config, self.model)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, WarmupPoly(config.optim.steps, config.optim.warmup_steps, config.optim.poly_power)
        )
        self.amp_dtype = amp_dtype(config, self.device)
        self.scaler = grad_scaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.objective = ClipObjective(config) if temporal else Objective(
            config, self.reference, feature_layer(self.model), self.device, self.amp_dtype
        )
        self.train_data = (build_clip_dataset if temporal else build_dataset)(config, config.data.train, "data.train",
                                                                              train=True)
        self.collate = collate_clips if temporal else collate_samples
        self.validator: Validator | ClipValidator | None = None
        if config.data.val and temporal:
            self.validator = ClipValidator(config, self.env, self.device, self.amp_dtype)
        elif config.data.val:
            val_data = build_dataset(config, config.data.val, "data.val", train=False)
            self.validator = Validator(
                config, val_data, self.objective, self.env, self.device, self.amp_dtype, self.batch_per_rank
            )
        stream = self.train_data.stream_blocks()  # label shards: read through a shuffle buffer (see schedule)
        self.sampler = EpochShardSampler(
            len(self.train_data), self.batch_per_rank, self.env.rank, self.env.world_size, config.run.seed,
            blocks=stream[0] if stream else None, buffer=stream[1] if stream else 1,
        )
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        # Bad samples seen by this rank since start/resume, and the job-wide total restored from a checkpoint.
        self.skipped, self.skipped_before = 0, 0
        seed_everything(config.run.seed, self.env.rank)
        self.last_checkpoint: Path | None = None
        resumed_from = self._resume(existing if resume is True else Path(resume)) if resume else None
        truncate = self.step if resumed_from else None

        def write_run_files() -> None:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.output_dir / "config.yaml", yaml.safe_dump(plain(config.to_dict()), sort_keys=False))
            self.train_log = CsvLog(self.output_dir / "metrics.csv", TRAIN_COLUMNS, truncate)
            self.val_log = CsvLog(self.output_dir / "val.csv", VAL_COLUMNS, truncate)

        on_main(write_run_files, f"write config.yaml and the logs in {self.output_dir}")

    # ------------------------------------------------------------------ the loop
    def fit(self) -> TrainResult:
        """Train until `optim.steps`, validating, logging and checkpointing on the way."""
        run, total = self.cfg.run, self.cfg.optim.steps
        history: list[dict[str, Any]] = []
        window: list[dict[str, float]] = []
        batches = self._usable_batches()
        self._call("on_start")
        try:
            while self.step < total:
                window.append(self._train_step(next(batches)))
                self.step += 1
                self._call("on_step", window[-1])
                if self._due(run.log_every):
                    history.append(self._log_row(window))
                    window = []
                    self._call("on_log", history[-1])
                if self.validator is not None and self._due(run.val_every):
                    self._call("on_validation", self.validate())
                if self._due(run.checkpoint_every):
                    self._call("on_checkpoint", self.save_checkpoint())
                self._call("on_step_end")
        finally:
            self._call("on_end")
        final = on_main(lambda: self.save_model(self.output_dir / "model.pt"), "save the final model")
        final = final if self.env.is_main else None
        skipped = self.total_skipped()
        return TrainResult(self.step, self.output_dir, final, self.last_checkpoint, skipped, history)

    def _due(self, every: int) -> bool:
        """Whether something done every `every` steps is due now (always at the last step)."""
        return self.step % every == 0 or self.step == self.cfg.optim.steps

    def _call(self, event: str, *args: Any) -> None:
        for hook in self.hooks:
            getattr(hook, event)(self, *args)

    # ------------------------------------------------------------------ steps
    def _batches(self) -> Iterator[dict[str, Any]]:
        """Training batches from the saved data position onwards, epoch after epoch."""
        loader = make_loader(self.train_data, self.sampler, self.batch_per_rank, self.cfg.data.num_workers, self.device,
                             self.collate)
        while True:
            self.sampler.set_position(self.epoch, self.batch_in_epoch)
            for batch in loader:
                self.batch_in_epoch += 1
                if self.batch_in_epoch == self.sampler.batches_per_epoch:
                    self.epoch, self.batch_in_epoch = self.epoch + 1, 0
                yield batch

    def _usable_batches(self) -> Iterator[dict[str, Any]]:
        """Batches with samples on every rank (bad samples reported and counted); a whole epoch's
        worth of batches in a row without one stops the run."""
        idle_batches, idle_errors = 0, []  # batches in a row without a training step, and why
        for batch in self._batches():
            self.skipped += report_skipped(batch, self.env.rank, "unreadable sample")
            # Every rank must take the same decision, or DDP would wait for a rank that skipped.
            empty = all_reduce_sum(torch.tensor([0.0 if batch["size"] else 1.0], device=self.device))
            if float(empty[0]) == 0:
                idle_batches, idle_errors = 0, []
                yield batch
                continue
            idle_batches += 1
            idle_errors += batch["errors"][: max(0, 5 - len(idle_errors))]
            if idle_batches >= self.sampler.batches_per_epoch:
                self._no_usable_samples(idle_batches, idle_errors)

    def _train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        self.forward.train()
        batch = to_device(batch, self.device)
        with autocast(self.device, self.amp_dtype):
            depth, feature = self.forward(batch["image"])
        loss, terms = self.objective(batch, depth, feature)
        self._check_finite(loss, terms, batch["names"], "loss")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        clip = self.cfg.optim.grad_clip if self.cfg.optim.grad_clip is not None else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        if self.amp_dtype != torch.float16:  # fp16: the scaler skips such steps by design
            self._check_finite(grad_norm, None, batch["names"], "gradient norm")
        lrs = [group["lr"] for group in self.optimizer.param_groups]  # the rates this step used
        scale_before = self.scaler.get_scale() if self.scaler.is_enabled() else None
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        # fp16: a lowered scale means the step was skipped for overflowing gradients; log no norm for it
        skipped_step = scale_before is not None and self.scaler.get_scale() < scale_before
        values = {"lr_encoder": lrs[0], "lr_decoder": lrs[1]}
        values |= {name: float(t.detach().float().mean()) for name, t in terms.items() if name != "total"}
        values["loss"] = float(loss.detach())
        values["grad_norm"] = math.nan if skipped_step else float(grad_norm)
        return values

    def _check_finite(
        self, value: torch.Tensor, terms: dict[str, torch.Tensor] | None, names: list[str], what: str
    ) -> None:
        """Stop every rank together when any rank sees NaN/inf, naming the samples responsible."""
        bad = torch.tensor([0.0 if bool(torch.isfinite(value.detach()).all()) else 1.0], device=self.device)
        if float(all_reduce_sum(bad)[0]) == 0:
            return
        culprits: list[str] = []
        if terms is not None and bool(bad[0]):
            finite = torch.isfinite(terms["total"].detach())
            culprits = [name for name, ok in zip(names, finite.tolist(), strict=True) if not ok] or list(names)
        elif bool(bad[0]):
            culprits = list(names)
        everyone = [name for part in all_gather_objects(culprits) for name in part]
        kept = f"last good checkpoint: {self.last_checkpoint}" if self.last_checkpoint else "no checkpoint was written yet"
        raise TrainingDivergedError(
            f"non-finite {what} at step {self.step + 1} (epoch {self.epoch}); samples in the batch: "
            f"{', '.join(everyone) or 'unknown'}; {kept}. Lower optim.lr or check these samples' labels."
        )

    def _no_usable_samples(self, batches: int, errors: list[str]) -> None:
        """Stop (every rank together) when a whole epoch's worth of batches gave no training step."""
        everyone = [message for part in all_gather_objects(errors) for message in part][:5]
        kept = f"last checkpoint: {self.last_checkpoint}" if self.last_checkpoint else "no checkpoint was written"
        raise DatasetError(
            f"no usable training sample in {batches} batches in a row (a whole epoch) at step {self.step}; "
            f"{kept}. First skipped samples: {' | '.join(everyone) or 'none reported'}"
        )

    # ------------------------------------------------------------------ logs and validation
    def _log_row(self, window: list[dict[str, float]]) -> dict[str, Any]:
        """Average the steps since the last log over steps and ranks, then write one CSV row."""
        row = {"step": self.step, "epoch": self.epoch, **window_means(window, self.device, self.env.world_size)}
        row["skipped"] = self.total_skipped()
        if self.env.is_main:
            self.train_log.write(row)
        return row

    def validate(self) -> dict[str, Any]:
        """Score the model on the validation sets (every rank) and write the `val.csv` row (rank 0)."""
        assert self.validator is not None
        metrics = self.validator(self.model)
        if self.env.is_main:
            self.val_log.write({"step": self.step, **metrics})
        log.debug("validation at step %d: %s", self.step, metrics)
        return metrics

    def total_skipped(self) -> int:
        """Bad samples skipped by all ranks since the run began (a collective: call on every rank)."""
        local = torch.tensor([float(self.skipped)], dtype=torch.float64, device=self.device)
        return self.skipped_before + int(all_reduce_sum(local)[0])

    # ------------------------------------------------------------------ checkpoints
    def latest_checkpoint(self) -> Path | None:
        """The checkpoint named in `checkpoints/latest`, if any."""
        return self.checkpoints.latest()

    def save_checkpoint(self) -> Path:
        """Write `step_N.pt` (rank 0), point `latest` at it and prune old ones; every rank contributes
        its RNG state and proves its replica equals the others."""
        rng = all_gather_objects(capture_rng_state())
        skipped = self.total_skipped()
        # Every checkpoint proves the DDP replicas are still identical (a desync would otherwise
        # go unnoticed: rank 0's weights are the only ones saved).
        digests = all_gather_objects(weights_digest(self.model.state_dict()))
        if len(set(digests)) > 1:
            raise TrainingDivergedError(f"step {self.step}: model replicas differ across ranks (digests {digests})")
        path = self.checkpoints.path_for(self.step)

        def write() -> Path:
            state = {
                "format": CHECKPOINT_FORMAT,
                "model": self.model.state_dict(),
                "model_config": self.model.config.to_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "rng": rng,
                "replica_digests": digests,
                "data": {"epoch": self.epoch, "batch": self.batch_in_epoch},
                "step": self.step,
                "skipped": skipped,
                "config": plain(self.cfg.to_dict()),
            }
            return self.checkpoints.save(state, self.step)

        on_main(write, f"write checkpoint {path}")
        self.last_checkpoint = path
        return path

    def _resume(self, path: Path | None) -> Path | None:
        """Continue from `path` (chosen by rank 0, the same on every rank); None: start fresh."""
        if path is None:
            if self.env.is_main:
                log.info("no checkpoint in %s; starting fresh", self.checkpoint_dir)
            return None
        state = read_training_checkpoint(path, plain(self.cfg.to_dict()))
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.epoch, self.batch_in_epoch = int(state["data"]["epoch"]), int(state["data"]["batch"])
        self.skipped_before = int(state["skipped"])
        rng = state["rng"]
        restore_rng_state(rng[self.env.rank % len(rng)])
        self.last_checkpoint = path
        steps = all_gather_objects(self.step)
        if len(set(steps)) > 1:
            raise CheckpointMismatchError(f"ranks resumed from {path} at different steps {steps}")
        on_main(lambda: self.checkpoints.continue_from(path, self.step),
                f"remove checkpoints later than step {self.step}")
        if self.env.is_main:
            log.info("resumed from %s at step %d", path, self.step)
        return path

    def save_model(self, path: Path) -> Path:
        """Weights + model config only: what `depth_anything.load_model` and the labeler read."""
        return save_model_file(self.model, path)


def train(config: TrainConfig, resume: bool | str | Path = False, hooks: Sequence[Hook] = ()) -> TrainResult:
    """Run one training job to completion (the body of `depth-anything train`)."""
    return Trainer(config, resume=resume, hooks=hooks).fit()
