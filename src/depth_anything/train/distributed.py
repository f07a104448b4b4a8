"""torch.distributed setup from torchrun's environment, and the few collectives the trainer needs.

Under `torchrun` (RANK/WORLD_SIZE/LOCAL_RANK set) the process group is created with nccl on GPU and
gloo otherwise; multi-node works through torchrun's rendezvous with nothing else to configure. Without
those variables everything runs as a single process and the collectives are no-ops.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from ..errors import DepthAnythingError
from ..runtime import resolve_device

T = TypeVar("T")


class RankFailedError(DepthAnythingError):
    """Work that rank 0 did for the whole job failed; raised on the other ranks with rank 0's message."""


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_request: str | torch.device | None = None) -> tuple[DistEnv, torch.device]:
    """Join the process group torchrun describes (if any) and choose the device by the shared policy
    (`runtime.resolve_device`: the requested one, else this local rank's GPU, else MPS, else the CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    env = DistEnv(int(os.environ.get("RANK", "0")), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    device = resolve_device(device_request, local_rank=env.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if env.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)  # rendezvous from torchrun's MASTER_ADDR/PORT (or c10d)
    return env, device


def shutdown_distributed() -> None:
    """Leave the process group cleanly (torchrun then reports the exit code)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum of `values` over ranks (returned; the input is left untouched)."""
    out = values.clone()
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def all_reduce_max(value: float, device: torch.device) -> float:
    """The largest `value` over ranks (e.g. the slowest rank's time)."""
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor[0])


def all_gather_objects(value: Any) -> list[Any]:
    """Every rank's `value`, in rank order."""
    if not (dist.is_available() and dist.is_initialized()):
        return [value]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def barrier() -> None:
    """Wait for every rank."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def broadcast_object(value: Any) -> Any:
    """Rank 0's `value` on every rank (`value` is ignored elsewhere)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    box = [value if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def on_main(action: Callable[[], T], what: str) -> T:
    """Run `action` on rank 0 only, then have every rank agree on its outcome (a collective: call on
    every rank). Every rank returns rank 0's result; when it raised, rank 0 re-raises its exception and
    every other rank raises `RankFailedError` naming it, so no rank is left waiting in a collective.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return action()
    result: Any = None
    failure: BaseException | None = None
    message: str | None = None
    if dist.get_rank() == 0:
        try:
            result = action()
        except Exception as exc:  # reported to every rank below, then re-raised here
            failure, message = exc, f"{type(exc).__name__}: {exc}"
    message, result = broadcast_object((message, result))
    if failure is not None:
        raise failure
    if message is not None:
        raise RankFailedError(f"rank {dist.get_rank()}: rank 0 failed to {what}: {message}")
    return result
