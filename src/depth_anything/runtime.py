"""Device and dtype resolution: one policy for inference, labeling and training.

The best available device is CUDA, then Apple's MPS, then the CPU. Under torchrun each process takes
the GPU of its local rank. dtype names follow the command line ("fp32", "fp16", "bf16"). Also the
scheduling of helper threads beside the network. torch is imported only by the functions that return
torch objects, so runtimes that do not use torch (ONNX Runtime, OpenVINO) start without it.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
KEPT_FREE_BYTES = 1 << 30


def keep_freed_memory(keep_bytes: int = KEPT_FREE_BYTES) -> bool:
    """Make glibc's allocator keep freed memory for reuse (up to `keep_bytes` free at the heap's top)
    instead of handing it back to the kernel; True if it applied (Linux with glibc).

    glibc serves every block over 32 MiB with its own mmap and unmaps it on free, so each forward pass
    of a large model faults its activations (vits at batch 4: MLP blocks of 45 MB) in again, page by
    page; measured 18 % of vits' batch-4 time on this project's 2-core machine. A process-wide setting,
    so the library never calls it: the command line does, as the application.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    keep = max(0, min(int(keep_bytes), 2**31 - 1))
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, keep))


# every spelling the command line and the API take → the short name (torch's dtype name in TORCH_NAMES)
DTYPES: dict[str, str] = {
    "fp32": "fp32", "float32": "fp32", "float": "fp32",
    "fp16": "fp16", "float16": "fp16", "half": "fp16",
    "bf16": "bf16", "bfloat16": "bf16",
}
TORCH_NAMES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def dtype_key(dtype: str | Any | None = None) -> str:
    """The short name ("fp32", "fp16", "bf16") of a dtype name or torch dtype (None: "fp32"), without
    importing torch; an unknown one is refused with the choices."""
    if dtype is None:
        return "fp32"
    text = dtype.lower() if isinstance(dtype, str) else str(dtype).removeprefix("torch.")
    if text not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {', '.join(sorted(DTYPES))}")
    return DTYPES[text]


def mps_available() -> bool:
    """Whether Apple's Metal backend can run here."""
    import torch

    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def accelerator_present() -> bool:
    """Whether PyTorch would pick a GPU here (`resolve_device(None)` not "cpu"), answered without importing
    torch when it is not imported yet: an NVIDIA or AMD driver's device files, or an Apple silicon Mac."""
    if "torch" in sys.modules:
        return resolve_device(None).type != "cpu"
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        nvidia = False
    else:
        nvidia = os.path.exists("/dev/nvidiactl") or os.path.isdir("/proc/driver/nvidia/gpus")
    rocm = os.path.exists("/dev/kfd")
    apple = sys.platform == "darwin" and os.uname().machine == "arm64"
    return nvidia or rocm or apple


def resolve_device(device: str | torch.device | None = None, local_rank: int = 0) -> torch.device:
    """The requested device, or the best available one (cuda → mps → cpu).

    A bare "cuda" becomes this process's GPU (`local_rank` modulo the GPUs present), so one policy
    serves a single process and every rank of a torchrun job.
    """
    import torch

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
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    return getattr(torch, TORCH_NAMES[dtype_key(dtype)])


def dtype_name(dtype: torch.dtype) -> str:
    """Short name of a torch dtype ("fp32", "fp16", "bf16"), as the command line spells it."""
    try:
        return dtype_key(dtype)
    except ValueError:
        return str(dtype)


__all__ = ["DTYPES", "dtype_key", "dtype_name", "keep_freed_memory", "mps_available", "resolve_device", "resolve_dtype"]
