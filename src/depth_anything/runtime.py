"""Device and dtype resolution: one policy for inference, labeling and training.

The best available device is CUDA, then Apple's MPS, then the CPU. Under torchrun each process takes
the GPU of its local rank. dtype names follow the command line ("fp32", "fp16", "bf16"). Also the
scheduling of helper threads beside the network.
"""

from __future__ import annotations

import os
import sys
import threading

import torch

# niceness of the threads that read and write files beside the network
HELPER_NICENESS = 10


def yield_cores_to_network() -> None:
    """Lower the calling thread's CPU priority (Linux: per-thread niceness; elsewhere nothing).

    The network's intra-op threads use every core and meet at a barrier after each operation, so a
    file-reading or -writing thread of equal priority that takes a core stalls all of them (measured:
    overlapped writing made `predict` slower than writing in turn). At low priority a helper runs in
    the gaps the network leaves, and at full speed when the network waits for it.
    """
    if not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, max(os.getpriority(os.PRIO_PROCESS, thread), HELPER_NICENESS))
    except OSError:  # not permitted in some sandboxes: run at normal priority
        pass

DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32, "float32": torch.float32, "float": torch.float32,
    "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
}


def mps_available() -> bool:
    """Whether Apple's Metal backend can run here."""
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def resolve_device(device: str | torch.device | None = None, local_rank: int = 0) -> torch.device:
    """The requested device, or the best available one (cuda → mps → cpu).

    A bare "cuda" becomes this process's GPU (`local_rank` modulo the GPUs present), so one policy
    serves a single process and every rank of a torchrun job.
    """
    if device is not None and str(device) != "":
        resolved = torch.device(device)
        if resolved.type == "cuda" and resolved.index is None and torch.cuda.is_available():
            resolved = torch.device("cuda", local_rank % torch.cuda.device_count())
        return resolved
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(dtype: str | torch.dtype | None = None) -> torch.dtype:
    """torch dtype from a name such as "fp16", "bf16", "float32" (default float32)."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype.lower() not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {', '.join(sorted(DTYPES))}")
    return DTYPES[dtype.lower()]


def dtype_name(dtype: torch.dtype) -> str:
    """Short name of a torch dtype ("fp32", "fp16", "bf16"), as the command line spells it."""
    return {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}.get(dtype, str(dtype))


__all__ = ["DTYPES", "dtype_name", "mps_available", "resolve_device", "resolve_dtype"]
