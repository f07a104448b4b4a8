"""The training loop of every stage (teacher, student, metric), single-process or under torchrun.

What makes it safe to run for days:
- checkpoints hold model, optimiser, scheduler, grad scaler, every rank's RNG and the data position,
  are written atomically, and `resume=True` continues so exactly that the final weights equal those
  of an uninterrupted run with the same seed;
- a missing or unreadable sample is reported with its path, skipped and counted (`skipped` column);
- a non-finite loss or gradient stops the run naming the step and samples, and the last good
  checkpoint is left untouched.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import math
import os
import random
import signal
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from ..data.augment import DepthTrainDataset, SourceInfo, TrainTransform, collate_samples
from ..data.datasets import open_dataset
from ..errors import CheckpointMismatchError, ConfigError, DatasetError, DepthAnythingError
from ..io import atomic_write, atomic_write_text
from .config import DataSource, TrainConfig, model_config_from
from .distributed import all_gather_objects, all_reduce_sum, init_distributed, on_main
from .losses import feature_alignment_loss, relative_depth_loss, silog_loss
from .schedule import EpochShardSampler, WarmupPoly

CHECKPOINT_FORMAT = "depth-anything-train/1"
# Crash-test aid: when set, the process SIGKILLs itself right after finishing this step (and any
# checkpoint due at it), so tests can exercise `--resume` on a real hard kill at a known point.
KILL_AT_STEP_ENV = "DEPTH_ANYTHING_KILL_AT_STEP"
TRAIN_COLUMNS = ("step", "epoch", "lr_encoder", "lr_decoder", "loss", "ssi", "gradient", "feature", "silog",
                 "grad_norm", "skipped")
VAL_COLUMNS = ("step", "val_loss", "d1", "abs_rel", "samples", "skipped")


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


# ----------------------------------------------------------------------------------- helpers
def _import_readers() -> None:
    """Make sure every reader module has registered itself with `open_dataset`."""
    from ..data import layouts, synthetic_io  # noqa: F401  (imported for their registrations)
    from . import label  # noqa: F401  (the pseudo-label reader)


def open_source(source: DataSource, key: str) -> SourceInfo:
    """Open one configured dataset, with `key` (e.g. ``data.train[0]``) in any error."""
    _import_readers()
    try:
        reader = open_dataset(source.layout, source.root, source.split, **source.options)
    except DepthAnythingError as exc:
        raise ConfigError(f"key '{key}': {exc}") from None
    except TypeError as exc:  # unknown option for that reader
        raise ConfigError(f"key '{key}.options': {exc}") from None
    if source.max_samples is not None:
        reader = _Limited(reader, source.max_samples)
    if len(reader) == 0:
        raise ConfigError(f"key '{key}': dataset {source.layout!r} at {source.root} has no samples")
    return SourceInfo(reader, source.is_pseudo, f"{source.layout}:{source.root}")


class _Limited:
    """The first `limit` samples of a reader (keeps `items` so bad samples can still be named)."""

    def __init__(self, reader: Any, limit: int) -> None:
        self.reader, self.limit = reader, limit
        self.items = getattr(reader, "items", None)

    def __len__(self) -> int:
        return min(self.limit, len(self.reader))

    def __getitem__(self, index: int) -> Any:
        if index >= len(self):
            raise IndexError(index)
        return self.reader[index]


def _rng_state() -> dict[str, Any]:
    """This process's RNG states, as plain tensors/tuples so checkpoints load with weights_only=True."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate((state["python"][0], tuple(state["python"][1]), state["python"][2]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over names and raw bytes of a state dict: equal digests = bit-identical weights."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous().reshape(-1)
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def seed_everything(seed: int, rank: int = 0) -> None:
    """Seed python, numpy and torch; ranks get different streams (model init is broadcast anyway)."""
    random.seed(seed + rank)
    np.random.seed((seed + rank) % 2**32)
    torch.manual_seed(seed + rank)


def _read_init(path: str) -> tuple[dict[str, Any], Path]:
    """The state dict of the checkpoint at `path` (a file, or a name `resolve_weights` knows), and its file."""
    from ..weights import read_checkpoint, resolve_weights

    file = Path(path) if Path(path).exists() else resolve_weights(path)
    state, _ = read_checkpoint(file)
    return state, file


def _load_init(model: nn.Module, path: str, encoder_only: bool) -> None:
    """Start from a checkpoint: all weights, or only the encoder (`pretrained.*`) for metric fine-tuning."""
    from ..weights import load_state_dict_checked

    if not encoder_only:
        state, file = _read_init(path)
        load_state_dict_checked(model, state, str(file))  # type: ignore[arg-type]
        return
    _load_encoder(model.pretrained, path)


def _load_encoder(encoder: nn.Module, path: str) -> None:
    """Load only encoder weights into `encoder` (a model's `pretrained`): a full model's `pretrained.*`
    or a bare DINOv2 checkpoint."""
    state, file = _read_init(path)
    weights = {k.removeprefix("pretrained."): v for k, v in state.items() if k.startswith("pretrained.")}
    if not weights and "patch_embed.proj.weight" in state:  # a bare DINOv2 checkpoint, as the paper starts from
        weights = dict(state)
    if not weights:
        raise CheckpointMismatchError(f"{file}: no encoder weights ('pretrained.*' or DINOv2 keys) to initialise from")
    try:
        encoder.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise CheckpointMismatchError(f"{file}: encoder does not fit the configured model ({exc})") from None


def feature_layer(model: nn.Module) -> int:
    """The encoder block whose tokens feature alignment compares, for student and reference alike:
    the deepest block the head reads."""
    return max(model.config.layer_indices)


class _TrainForward(nn.Module):
    """Depth and the aligned encoder feature (`feature_layer`) from one pass, so DDP sees a single
    forward per step."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        patch = self.model.config.patch_size
        features = self.model.encode(x)
        depth = self.model.decode(features, x.shape[-2] // patch, x.shape[-1] // patch)
        return depth, features[list(self.model.config.layer_indices).index(feature_layer(self.model))][0]


def _grad_scaler(device_type: str, enabled: bool) -> Any:
    """Loss scaling for fp16 (a no-op otherwise); torch.amp's class where this torch has it."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler(device_type, enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)  # torch < 2.3


def _freeze_unused(model: nn.Module) -> None:
    """Stop tracking parameters that the training forward never reaches.

    DDP waits for a gradient of every trainable parameter, so unused ones (DINOv2's `mask_token`, the
    skip-input unit of the deepest fusion block, blocks after the last one read) would hang it. One
    backward pass on a tiny zero input finds them whatever the architecture.
    """
    patch = model.config.patch_size
    parameter = next(model.parameters())
    probe = torch.zeros(1, 3, 2 * patch, 2 * patch, device=parameter.device, dtype=parameter.dtype)
    depth, feature = _TrainForward(model)(probe)
    (depth.sum() + feature.sum()).backward()
    for param in model.parameters():
        if param.requires_grad and param.grad is None:
            param.requires_grad_(False)
    model.zero_grad(set_to_none=True)


def _open_relu(model: nn.Module) -> None:
    """Start a fresh relative head with a positive output bias.

    The relative head ends in ReLU; with a random last layer a small head can output ≤ 0 at every
    pixel, and then no gradient ever flows. A bias of 1 keeps the ReLU open at the start.
    """
    last_conv = [m for m in model.depth_head.modules() if isinstance(m, nn.Conv2d)][-1]
    if last_conv.bias is not None:
        with torch.no_grad():
            last_conv.bias.fill_(1.0)


class _CsvLog:
    """Append-only CSV with a fixed header; rows past `truncate_after` are dropped on resume."""

    def __init__(self, path: Path, columns: tuple[str, ...], truncate_after: int | None) -> None:
        self.path, self.columns = path, columns
        rows: list[dict[str, str]] = []
        if truncate_after is not None and path.is_file():
            with path.open(newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= truncate_after]
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.columns).writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items() if k in self.columns}
            )


# ----------------------------------------------------------------------------------- trainer
class Trainer:
    """Builds model, data and optimiser from a `TrainConfig`; `fit()` runs to `optim.steps`."""

    def __init__(self, config: TrainConfig, resume: bool | str | Path = False) -> None:
        self.cfg = config
        self.env, self.device = init_distributed(config.run.device)
        self.output_dir = Path(config.run.output_dir)
        self.checkpoint_dir = self.output_dir / "checkpoints"
        if self.cfg.optim.batch_size % self.env.world_size:
            raise ConfigError(
                f"key 'optim.batch_size': global batch {config.optim.batch_size} is not divisible by the "
                f"{self.env.world_size} processes"
            )
        self.batch_per_rank = config.optim.batch_size // self.env.world_size
        # rank 0 reads `latest` and every rank uses its answer (so all ranks resume from one file)
        existing = on_main(self.latest_checkpoint, f"read {self.checkpoint_dir / 'latest'}")
        if not resume and existing is not None:  # never clobber a run by forgetting --resume
            raise ConfigError(
                f"key 'run.output_dir': {self.output_dir} already holds a run (latest checkpoint {existing}); "
                "continue it with --resume or choose a new output folder"
            )
        seed_everything(config.run.seed)  # same on every rank: identical initial weights
        self.model = self._build_model().to(self.device)
        self.reference = self._build_reference()
        self.forward: nn.Module = _TrainForward(self.model)
        if self.env.enabled:
            self.forward = DistributedDataParallel(
                self.forward, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.optimizer = self._build_optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, WarmupPoly(config.optim.steps, config.optim.warmup_steps, config.optim.poly_power)
        )
        self.amp_dtype = self._amp_dtype()
        self.scaler = _grad_scaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.train_data = self._dataset(config.data.train, "data.train", train=True)
        self.val_data = self._dataset(config.data.val, "data.val", train=False) if config.data.val else None
        self.sampler = EpochShardSampler(
            len(self.train_data), self.batch_per_rank, self.env.rank, self.env.world_size, config.run.seed
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
            atomic_write_text(self.output_dir / "config.yaml", yaml.safe_dump(_plain(config.to_dict()), sort_keys=False))
            self.train_log = _CsvLog(self.output_dir / "metrics.csv", TRAIN_COLUMNS, truncate)
            self.val_log = _CsvLog(self.output_dir / "val.csv", VAL_COLUMNS, truncate)

        on_main(write_run_files, f"write config.yaml and the logs in {self.output_dir}")

    # ------------------------------------------------------------------ construction
    def _build_model(self) -> nn.Module:
        from ..models import build_model

        cfg = self.cfg.model
        model = build_model(model_config_from(cfg))
        if cfg.init:
            _load_init(model, cfg.init, cfg.init_encoder_only)
        if not model.config.is_metric and (not cfg.init or cfg.init_encoder_only):
            _open_relu(model)
        _freeze_unused(model)
        return model

    def _build_reference(self) -> nn.Module | None:
        """Frozen encoder for feature alignment, only when some training data is pseudo-labeled."""
        cfg = self.cfg
        wanted = (
            cfg.stage != "metric"
            and cfg.loss.feature_weight > 0
            and cfg.model.feature_reference != "none"
            and any(source.is_pseudo for source in cfg.data.train)
        )
        if not wanted:
            return None
        reference = copy.deepcopy(self.model.pretrained)  # the encoder only, never the head
        if cfg.model.feature_reference != "init":
            _load_encoder(reference, cfg.model.feature_reference)
        return reference.requires_grad_(False).eval().to(self.device)

    def _build_optimizer(self) -> torch.optim.Optimizer:
        """AdamW with the encoder at `lr` and everything else (the decoder) at `lr × decoder_lr_scale`."""
        optim = self.cfg.optim
        encoder, decoder = [], []
        for name, parameter in self.model.named_parameters():
            if parameter.requires_grad:
                (encoder if name.startswith("pretrained.") else decoder).append(parameter)
        groups = [
            {"params": encoder, "lr": optim.lr, "name": "encoder"},
            {"params": decoder, "lr": optim.lr * optim.decoder_lr_scale, "name": "decoder"},
        ]
        return torch.optim.AdamW(groups, lr=optim.lr, betas=optim.betas, weight_decay=optim.weight_decay)

    def _amp_dtype(self) -> torch.dtype | None:
        """"auto": bf16 on GPUs that have it, else fp16, and full precision off the GPU; "bf16" and
        "fp16" apply on any device (CPU autocast too), which is also how the tests exercise them."""
        amp = self.cfg.optim.amp
        if amp == "off" or (amp == "auto" and self.device.type != "cuda"):
            return None
        if amp == "fp16" or (amp == "auto" and not torch.cuda.is_bf16_supported()):
            return torch.float16
        return torch.bfloat16

    def _dataset(self, sources: list[DataSource], key: str, train: bool) -> DepthTrainDataset:
        data = self.cfg.data
        transform = TrainTransform(
            size=data.size,
            flip=data.flip,
            color_jitter=data.color_jitter,
            hue_jitter=data.hue_jitter,
            target="depth" if self.cfg.stage == "metric" else "disparity",
            min_depth=data.min_depth,
            max_depth=self.cfg.model.max_depth,
            train=train,
        )
        opened = [open_source(source, f"{key}[{i}]") for i, source in enumerate(sources)]
        return DepthTrainDataset(opened, transform, seed=self.cfg.run.seed)

    def _loader(self, dataset: DepthTrainDataset, sampler: Any) -> DataLoader:
        """Batches of this rank's samples in `sampler` order, loaded by `data.num_workers` workers."""
        workers = self.cfg.data.num_workers
        return DataLoader(
            dataset,
            batch_size=self.batch_per_rank,
            sampler=sampler,
            num_workers=workers,
            collate_fn=collate_samples,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            # A private generator: creating loader iterators must not advance the global torch RNG,
            # or a resumed run (which creates its iterator mid-epoch) would drift from the original.
            generator=torch.Generator(),
        )

    # ------------------------------------------------------------------ checkpoints
    def _resume(self, path: Path | None) -> Path | None:
        """Continue from `path` (chosen by rank 0, the same on every rank); None: start fresh."""
        if path is None:
            if self.env.is_main:
                print(f"depth-anything train: no checkpoint in {self.checkpoint_dir}; starting fresh", file=sys.stderr)
            return None
        if not path.is_file():
            raise CheckpointMismatchError(f"resume checkpoint {path} does not exist")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointMismatchError(f"{path}: not a training checkpoint of this version (format {state.get('format')!r})")
        changed = config_differences(state.get("config"), _plain(self.cfg.to_dict()))
        if changed:
            raise ConfigError(
                f"--resume: {path} was written under another configuration; only the 'run' section may change "
                f"on resume. Differences: {'; '.join(changed)}. Restore these values, or start a new run in "
                "another output folder"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.epoch, self.batch_in_epoch = int(state["data"]["epoch"]), int(state["data"]["batch"])
        self.skipped_before = int(state["skipped"])
        rng = state["rng"]
        _set_rng_state(rng[self.env.rank % len(rng)])
        self.last_checkpoint = path
        steps = all_gather_objects(self.step)
        if len(set(steps)) > 1:
            raise CheckpointMismatchError(f"ranks resumed from {path} at different steps {steps}")

        def drop_stale() -> None:  # checkpoints past the resumed step belong to an abandoned continuation
            for step, stale in sorted(self._step_files().items()):
                if step > self.step and stale.resolve() != path.resolve():
                    print(f"depth-anything train: removing {stale}, later than the resumed step {self.step}",
                          file=sys.stderr)
                    stale.unlink(missing_ok=True)
            if path.parent.resolve() == self.checkpoint_dir.resolve():
                atomic_write_text(self.checkpoint_dir / "latest", path.name)

        on_main(drop_stale, f"remove checkpoints later than step {self.step}")
        if self.env.is_main:
            print(f"depth-anything train: resumed from {path} at step {self.step}", file=sys.stderr)
        return path

    def latest_checkpoint(self) -> Path | None:
        """The checkpoint named in `checkpoints/latest`, if any."""
        pointer = self.checkpoint_dir / "latest"
        if not pointer.is_file():
            return None
        path = self.checkpoint_dir / pointer.read_text().strip()
        if not path.is_file():
            raise CheckpointMismatchError(
                f"{pointer} names {path.name}, which does not exist; resume from an existing checkpoint with "
                f"--resume {self.checkpoint_dir}/step_N.pt (it rewrites 'latest') or remove {pointer}"
            )
        return path

    def _step_files(self) -> dict[int, Path]:
        """The `step_N.pt` files in the checkpoint folder, by step."""
        files: dict[int, Path] = {}
        for file in self.checkpoint_dir.glob("step_*.pt"):
            number = file.stem.removeprefix("step_")
            if number.isdigit():
                files[int(number)] = file
        return files

    def save_checkpoint(self) -> Path:
        """Write `step_N.pt` atomically, then point `latest` at it, then prune old ones (rank 0 writes)."""
        rng = all_gather_objects(_rng_state())
        skipped = self.total_skipped()
        # Every checkpoint proves the DDP replicas are still identical (a desync would otherwise
        # go unnoticed: rank 0's weights are the only ones saved).
        digests = all_gather_objects(weights_digest(self.model.state_dict()))
        if len(set(digests)) > 1:
            raise TrainingDivergedError(f"step {self.step}: model replicas differ across ranks (digests {digests})")
        path = self.checkpoint_dir / f"step_{self.step:07d}.pt"

        def write() -> None:
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
                "config": _plain(self.cfg.to_dict()),
            }
            atomic_write(path, lambda tmp: torch.save(state, tmp))
            atomic_write_text(self.checkpoint_dir / "latest", path.name)
            # Prune by step number, only among this run's history (steps up to now), never the new file.
            steps = sorted(step for step in self._step_files() if step <= self.step)
            for step in steps[: -self.cfg.run.keep_checkpoints]:
                if step != self.step:
                    (self.checkpoint_dir / f"step_{step:07d}.pt").unlink(missing_ok=True)

        on_main(write, f"write checkpoint {path}")
        self.last_checkpoint = path
        return path

    def total_skipped(self) -> int:
        """Bad samples skipped by all ranks since the run began (a collective: call on every rank)."""
        local = torch.tensor([float(self.skipped)], dtype=torch.float64, device=self.device)
        return self.skipped_before + int(all_reduce_sum(local)[0])

    def save_model(self, path: Path) -> Path:
        """Weights + model config only: what `depth_anything.load_model` and the labeler read."""
        from ..weights import save_checkpoint

        return save_checkpoint(self.model, path)

    # ------------------------------------------------------------------ steps
    def _losses(
        self, batch: dict[str, Any], depth: torch.Tensor, feature: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Per-sample loss terms and the batch loss (mean over samples with valid pixels); without
        `feature` (validation) no feature alignment term."""
        cfg = self.cfg.loss
        target, valid, pseudo = batch["target"], batch["valid"], batch["pseudo"]
        has_pixels = valid.flatten(1).any(dim=1).float()
        terms: dict[str, torch.Tensor] = {}
        if self.cfg.stage == "metric":
            per_sample = silog_loss(depth.float(), target, valid, cfg.silog_lambda)
            terms["silog"] = per_sample
        else:
            drop = torch.where(pseudo, cfg.trim_fraction, 0.0)
            rel = relative_depth_loss(
                depth.float(), target, valid, drop, cfg.ssi_weight, cfg.gradient_weight, cfg.gradient_scales
            )
            per_sample, terms["ssi"], terms["gradient"] = rel.total, rel.ssi, rel.gradient
        loss = (per_sample * has_pixels).sum() / has_pixels.sum().clamp(min=1)
        if self.reference is not None and feature is not None:
            with torch.no_grad(), self._autocast():
                index = feature_layer(self.model)
                reference = self.reference.get_intermediate_layers(batch["image"], [index])[0][0]
            feat = feature_alignment_loss(feature, reference, cfg.feature_margin)
            weight = pseudo.to(feat.device).float()
            terms["feature"] = feat
            per_sample = per_sample + cfg.feature_weight * feat * weight
            loss = loss + cfg.feature_weight * (feat * weight).sum() / weight.sum().clamp(min=1)
        terms["total"] = per_sample
        return loss, terms

    def _autocast(self) -> Any:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = dict(batch)
        for key in ("image", "target", "valid", "pseudo"):
            out[key] = batch[key].to(self.device, non_blocking=True)
        return out

    def _train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        self.forward.train()
        batch = self._to_device(batch)
        with self._autocast():
            depth, feature = self.forward(batch["image"])
        loss, terms = self._losses(batch, depth, feature)
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

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Loss, δ1 and AbsRel on the validation sets (sharded over ranks, summed over them)."""
        from ..eval.metrics import compute_metrics
        from ..eval.protocols import fit_scale_shift

        assert self.val_data is not None
        self.model.eval()
        indices = list(range(self.env.rank, len(self.val_data), self.env.world_size))
        if self.cfg.data.max_val_samples is not None:
            indices = [i for i in indices if i < self.cfg.data.max_val_samples]
        sums = torch.zeros(5, dtype=torch.float64)  # loss, d1, abs_rel, count, skipped
        for batch in self._loader(self.val_data, indices):
            sums[4] += len(self._count_errors(batch, validation=True))
            if not batch["size"]:
                continue
            batch = self._to_device(batch)
            with self._autocast():
                depth = self.model(batch["image"])
            _, terms = self._losses(batch, depth, None)
            for i in range(batch["size"]):
                mask = batch["valid"][i].cpu().numpy()
                if mask.sum() < 2:
                    continue
                pred = depth[i].float().cpu().numpy().astype(np.float64)
                target = batch["target"][i].cpu().numpy().astype(np.float64)
                if self.cfg.stage == "metric":
                    pred_depth, gt_depth = np.maximum(pred, 1e-6), target
                else:  # relative: the target is disparity; align in disparity, compare depths
                    gt_depth = np.where(mask, 1.0 / np.maximum(target, 1e-12), 0.0)
                    scale, shift = fit_scale_shift(pred, target, mask)
                    # kept inside the label's disparity range, so one near-zero value cannot dominate AbsRel
                    pred_depth = 1.0 / np.clip(scale * pred + shift, target[mask].min(), target[mask].max())
                metrics = compute_metrics(pred_depth, gt_depth, mask)
                sums[:4] += torch.tensor([float(terms["total"][i]), metrics["d1"], metrics["abs_rel"], 1.0],
                                         dtype=torch.float64)
        total = all_reduce_sum(sums.to(self.device)).cpu()
        count = max(float(total[3]), 1.0)
        return {"val_loss": float(total[0]) / count, "d1": float(total[1]) / count,
                "abs_rel": float(total[2]) / count, "samples": int(total[3]), "skipped": int(total[4])}

    # ------------------------------------------------------------------ loop
    def _count_errors(self, batch: dict[str, Any], validation: bool = False) -> list[str]:
        """Report the batch's unreadable samples; training ones count in `skipped` (validation's don't)."""
        what = "validation sample" if validation else "unreadable sample"
        for message in batch["errors"]:
            if not validation:
                self.skipped += 1
            print(f"depth-anything train: rank {self.env.rank}: skipped {what} {message}", file=sys.stderr)
        return list(batch["errors"])

    def _batches(self) -> Iterator[dict[str, Any]]:
        """Training batches from the saved data position onwards, epoch after epoch."""
        loader = self._loader(self.train_data, self.sampler)
        while True:
            self.sampler.set_position(self.epoch, self.batch_in_epoch)
            for batch in loader:
                self.batch_in_epoch += 1
                if self.batch_in_epoch == self.sampler.batches_per_epoch:
                    self.epoch, self.batch_in_epoch = self.epoch + 1, 0
                yield batch

    def fit(self) -> TrainResult:
        """Train until `optim.steps`, validating, logging and checkpointing on the way."""
        from tqdm import tqdm

        run, total = self.cfg.run, self.cfg.optim.steps
        kill_at = int(os.environ.get(KILL_AT_STEP_ENV, "0") or 0)
        history: list[dict[str, float]] = []
        window: list[dict[str, float]] = []
        bar = tqdm(total=total, initial=self.step, disable=not (self.env.is_main and run.progress),
                   desc=f"{self.cfg.stage}", dynamic_ncols=True, file=sys.stderr)
        batches = self._batches()
        idle_batches, idle_errors = 0, []  # batches in a row without a training step, and why
        while self.step < total:
            batch = next(batches)
            errors = self._count_errors(batch)
            # Every rank must take the same decision, or DDP would wait for a rank that skipped.
            empty = all_reduce_sum(torch.tensor([0.0 if batch["size"] else 1.0], device=self.device))
            if float(empty[0]) > 0:
                idle_batches += 1
                idle_errors += errors[: max(0, 5 - len(idle_errors))]
                if idle_batches >= self.sampler.batches_per_epoch:
                    bar.close()
                    self._no_usable_samples(idle_batches, idle_errors)
                continue
            idle_batches, idle_errors = 0, []
            window.append(self._train_step(batch))
            self.step += 1
            bar.update(1)
            if self.step % run.log_every == 0 or self.step == total:
                row = self._log_row(window)
                history.append(row)
                window = []
                bar.set_postfix(loss=f"{row['loss']:.4f}", skipped=row["skipped"])
            if self.val_data is not None and (self.step % run.val_every == 0 or self.step == total):
                val = self.validate()
                if self.env.is_main:
                    self.val_log.write({"step": self.step, **val})
                    bar.write(f"step {self.step}: val_loss {val['val_loss']:.4f}  δ1 {val['d1']:.3f}  AbsRel {val['abs_rel']:.3f}")
            if self.step % run.checkpoint_every == 0 or self.step == total:
                self.save_checkpoint()
            if kill_at and self.step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        bar.close()
        final = on_main(lambda: self.save_model(self.output_dir / "model.pt"), "save the final model")
        final = final if self.env.is_main else None
        skipped = self.total_skipped()
        return TrainResult(self.step, self.output_dir, final, self.last_checkpoint, skipped, history)

    def _no_usable_samples(self, batches: int, errors: list[str]) -> None:
        """Stop (every rank together) when a whole epoch's worth of batches gave no training step."""
        everyone = [message for part in all_gather_objects(errors) for message in part][:5]
        kept = f"last checkpoint: {self.last_checkpoint}" if self.last_checkpoint else "no checkpoint was written"
        raise DatasetError(
            f"no usable training sample in {batches} batches in a row (a whole epoch) at step {self.step}; "
            f"{kept}. First skipped samples: {' | '.join(everyone) or 'none reported'}"
        )

    def _log_row(self, window: list[dict[str, float]]) -> dict[str, float]:
        """Average the steps since the last log over steps and ranks, then write one CSV row."""
        names = [c for c in TRAIN_COLUMNS if c not in ("step", "epoch", "skipped")]
        local = torch.tensor(
            [[w.get(n, math.nan) for n in names] for w in window], dtype=torch.float64
        ).nanmean(dim=0).nan_to_num(0.0)
        # a column with no finite value in the window (a term not in this stage, or only fp16-skipped
        # steps for grad_norm) is written empty rather than as 0
        present = torch.tensor(
            [float(any(math.isfinite(w.get(n, math.nan)) for w in window)) for n in names], dtype=torch.float64
        )
        reduced = (all_reduce_sum(local.to(self.device)) / self.env.world_size).cpu()
        row: dict[str, Any] = {"step": self.step, "epoch": self.epoch}
        for name, value, seen in zip(names, reduced.tolist(), present.tolist(), strict=True):
            row[name] = value if seen else ""
        row["skipped"] = self.total_skipped()
        if self.env.is_main:
            self.train_log.write(row)
        return row


# Settings that may change on resume because they cannot change the weights: the `run` section
# (output folder, cadence, progress) and the number of loader processes (samples are a pure function
# of seed, epoch and index, whichever process loads them).
RESUME_MAY_CHANGE = ("run", "data.num_workers")


def config_differences(saved: Any, current: dict[str, Any]) -> list[str]:
    """Keys whose values differ between a checkpoint's config and the current one, as
    ``key: A in the checkpoint, B now``, leaving out `RESUME_MAY_CHANGE`."""
    if not isinstance(saved, dict):
        return ["config: not recorded in the checkpoint"]
    found: list[str] = []

    def walk(old: Any, new: Any, key: str) -> None:
        if isinstance(old, dict) and isinstance(new, dict):
            for name in [*old, *(k for k in new if k not in old)]:
                child = f"{key}.{name}" if key else str(name)
                if child in RESUME_MAY_CHANGE:
                    continue
                walk(old.get(name, _MISSING), new.get(name, _MISSING), child)
        elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
            for i, (a, b) in enumerate(zip(old, new, strict=True)):
                walk(a, b, f"{key}[{i}]")
        elif old != new:
            found.append(f"{key}: {_show(old)} in the checkpoint, {_show(new)} now")

    walk(_plain(saved), current, "")
    return found


_MISSING = object()


def _show(value: Any) -> str:
    return "(absent)" if value is _MISSING else repr(value) if isinstance(value, str) else str(value)


def _plain(value: Any) -> Any:
    """Tuples → lists, recursively, for YAML and checkpoint metadata."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def train(config: TrainConfig, resume: bool | str | Path = False) -> TrainResult:
    """Run one training job to completion (the body of `depth-anything train`)."""
    return Trainer(config, resume=resume).fit()
