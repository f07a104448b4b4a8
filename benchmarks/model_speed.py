"""Time Depth Anything V2 `vits` at 518×518 on CPU against transformers' model with identical weights.

Prints seconds per call and the ratio ours / transformers (≤ 1.0 means this project is at least as
fast) for batch 1 and batch 8, timing the two models alternately in one run so machine noise hits
both alike; then the peak of live heap memory during one forward pass, each in a fresh process
(glibc's mallinfo2 sampled after every tensor operation; Linux only).

    python benchmarks/model_speed.py [--rounds 5] [--threads N]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode

_LIBC = ctypes.CDLL("libc.so.6")


def build_pair(folder: str):
    """Our vits and transformers' model holding the same random weights."""
    import transformers

    from depth_anything import build_model
    from depth_anything.weights import save_transformers

    torch.manual_seed(0)
    ours = build_model("vits").eval()
    save_transformers(ours, folder)
    theirs = transformers.DepthAnythingForDepthEstimation.from_pretrained(folder).eval()
    return ours, theirs


def forward(model, x):
    out = model(x)
    return out if isinstance(out, torch.Tensor) else out.predicted_depth


def time_pair(ours, theirs, batch: int, rounds: int) -> tuple[list[float], list[float]]:
    x = torch.randn(batch, 3, 518, 518)
    times: dict[str, list[float]] = {"ours": [], "theirs": []}
    with torch.inference_mode():
        torch.testing.assert_close(forward(ours, x), forward(theirs, x), atol=1e-4, rtol=1e-4)  # also a warm-up
        for _ in range(rounds):
            for name, model in (("ours", ours), ("theirs", theirs)):
                start = time.perf_counter()
                forward(model, x)
                times[name].append(time.perf_counter() - start)
    return times["ours"], times["theirs"]


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


_LIBC.mallinfo2.restype = _MallInfo2


def _heap_in_use() -> int:
    """Bytes malloc has handed out and not taken back (heap + mmap'd blocks): torch's CPU tensors live there."""
    info = _LIBC.mallinfo2()
    return info.uordblks + info.hblkhd


class _PeakHeap(TorchDispatchMode):
    """Samples the heap after every tensor operation: the peak of live memory during a forward pass,
    independent of how the OS pages it in (resident-set figures were too noisy to compare)."""

    def __enter__(self):
        self.base = self.peak = _heap_in_use()
        return super().__enter__()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.peak = max(self.peak, _heap_in_use())
        return out


def peak_memory_child(which: str, batch: int) -> None:
    """Run in a fresh process: build one model only (weights do not change activation memory), run it
    once and print the rise of the peak heap above the heap just before the call, in MiB."""
    import transformers

    from depth_anything import build_model
    from depth_anything.models.convert import transformers_config

    ours = build_model("vits").eval()
    if which == "theirs":
        config = transformers.DepthAnythingConfig.from_dict(transformers_config(ours.config))
        del ours
        model = transformers.DepthAnythingForDepthEstimation(config).eval()
    else:
        model = ours
    x = torch.randn(batch, 3, 518, 518)
    with torch.inference_mode():
        for _ in range(2):  # the first call also allocates one-time caches; report the steady state
            with _PeakHeap() as meter:
                forward(model, x)
    print(json.dumps({"peak_rise_mib": (meter.peak - meter.base) / 2**20}))


def _child_peak(which: str, batch: int) -> float:
    result = subprocess.run(
        [sys.executable, __file__, "--memory-child", which, str(batch)], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_rise_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--memory-child", nargs=2, metavar=("WHICH", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        peak_memory_child(args.memory_child[0], int(args.memory_child[1]))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, vits at 518×518, median of {args.rounds}")
    print("| batch | ours (s) | transformers (s) | ratio ours/transformers | peak memory rise ours / transformers (MiB) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        ours, theirs = build_pair(folder)
        for batch in (1, 8):
            mine, other = time_pair(ours, theirs, batch, args.rounds)
            memory = [_child_peak(which, batch) for which in ("ours", "theirs")]
            a, b = statistics.median(mine), statistics.median(other)
            print(f"| {batch} | {a:.3f} | {b:.3f} | {a / b:.3f} | {memory[0]:.0f} / {memory[1]:.0f} |", flush=True)


if __name__ == "__main__":
    main()
