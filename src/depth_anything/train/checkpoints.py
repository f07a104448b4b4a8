"""Training checkpoints on disk: `step_N.pt` files, the `latest` pointer, pruning, RNG states, and the
check that a resumed run uses the configuration it was started with.

A checkpoint holds everything a run needs to continue bit-identically (model, optimiser, scheduler,
grad scaler, every rank's RNG states, the data position, the skipped count, the config). Files are
written atomically and `latest` is only moved once the new file is complete, so a crash at any moment
leaves the last good checkpoint usable. Collectives (gathering RNG states over ranks) are the trainer's
business; everything here works on one process's values.
"""

from __future__ import annotations

import hashlib
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointMismatchError, ConfigError
from ..io import atomic_write, atomic_write_text

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "depth-anything-train/1"
LATEST = "latest"

# Settings that may change on resume because they cannot change the weights: the `run` section
# (output folder, cadence, progress) and the number of loader processes (samples are a pure function
# of seed, epoch and index, whichever process loads them).
RESUME_MAY_CHANGE = ("run", "data.num_workers")


# ----------------------------------------------------------------------------------- RNG states
def capture_rng_state() -> dict[str, Any]:
    """This process's Python, NumPy, torch (and CUDA) RNG states, as plain tensors/tuples so
    checkpoints load with ``weights_only=True``."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back the RNG states `capture_rng_state` returned (also after a round trip through a file)."""
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


# ----------------------------------------------------------------------------------- the folder
class CheckpointFolder:
    """The `checkpoints/` folder of a run: `step_N.pt` files and the `latest` pointer."""

    def __init__(self, directory: Path, keep: int) -> None:
        self.directory, self.keep = Path(directory), keep

    def path_for(self, step: int) -> Path:
        """Where the checkpoint of `step` goes."""
        return self.directory / f"step_{step:07d}.pt"

    def latest(self) -> Path | None:
        """The checkpoint named in `latest`, if any; a pointer to a missing file is an error."""
        pointer = self.directory / LATEST
        if not pointer.is_file():
            return None
        path = self.directory / pointer.read_text().strip()
        if not path.is_file():
            raise CheckpointMismatchError(
                f"{pointer} names {path.name}, which does not exist; resume from an existing checkpoint with "
                f"resume={self.directory}/step_N.pt (it rewrites 'latest') or remove {pointer}"
            )
        return path

    def step_files(self) -> dict[int, Path]:
        """The `step_N.pt` files in the folder, by step."""
        files: dict[int, Path] = {}
        for file in self.directory.glob("step_*.pt"):
            number = file.stem.removeprefix("step_")
            if number.isdigit():
                files[int(number)] = file
        return files

    def save(self, state: dict[str, Any], step: int) -> Path:
        """Write `state` as `step_N.pt` atomically, then point `latest` at it, then prune old ones."""
        path = self.path_for(step)
        atomic_write(path, lambda tmp: torch.save(state, tmp))
        atomic_write_text(self.directory / LATEST, path.name)
        # Prune by step number, only among this run's history (steps up to now), never the new file.
        steps = sorted(s for s in self.step_files() if s <= step)
        for old in steps[: -self.keep]:
            if old != step:
                self.path_for(old).unlink(missing_ok=True)
        return path

    def continue_from(self, path: Path, step: int) -> None:
        """After resuming `path` at `step`: remove checkpoints past it (they belong to an abandoned
        continuation) and point `latest` at it when it lies in this folder."""
        for later, stale in sorted(self.step_files().items()):
            if later > step and stale.resolve() != path.resolve():
                log.info("removing %s, later than the resumed step %d", stale, step)
                stale.unlink(missing_ok=True)
        if path.parent.resolve() == self.directory.resolve():
            atomic_write_text(self.directory / LATEST, path.name)


def read_training_checkpoint(path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The training state in `path`, refused unless it is this version's format and was written under
    `config` (plain data) apart from `RESUME_MAY_CHANGE`."""
    if not path.is_file():
        raise CheckpointMismatchError(f"resume checkpoint {path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointMismatchError(f"{path}: not a training checkpoint of this version (format {state.get('format')!r})")
    changed = config_differences(state.get("config"), config)
    if changed:
        raise ConfigError(
            f"cannot resume from {path}: it was written under another configuration; only the 'run' section may change "
            f"on resume. Differences: {'; '.join(changed)}. Restore these values, or start a new run in "
            "another output folder"
        )
    return state


# ----------------------------------------------------------------------------------- config check
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

    walk(plain(saved), current, "")
    return found


_MISSING = object()


def _show(value: Any) -> str:
    return "(absent)" if value is _MISSING else repr(value) if isinstance(value, str) else str(value)


def plain(value: Any) -> Any:
    """Tuples → lists, recursively, for YAML and checkpoint metadata."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
