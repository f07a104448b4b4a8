"""What every benchmark prints above its table: the date, the CPU (model, cores, the instruction sets
that change the figures), its measured fp32 matmul peak and the versions of the libraries timed, so a
ratio can be read against the machine it came from (times differ between machines; ratios travel).

  python benchmarks/machine.py          # the header alone
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import statistics
import time
from pathlib import Path

LIBRARIES = ("depth-anything", "numpy", "torch", "onnxruntime", "openvino", "transformers", "opencv-python-headless")
# instruction sets that decide which kernels run (bf16 pays only with native bf16, AMX on recent Xeons)
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_description() -> str:
    """The CPU's model name, visible cores and the relevant instruction sets (Linux's /proc/cpuinfo)."""
    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    found = [flag for flag in FLAGS if flag in flags]
    return f"{model}, {os.cpu_count()} cores visible, {' '.join(found) or 'none of ' + ' '.join(FLAGS)}"


def matmul_peak_gflops(side: int = 2048, repeats: int = 7) -> float | None:
    """The fp32 rate of one `a @ b` of side×side matrices through torch's BLAS, median of `repeats` (None
    without torch): the yardstick the model's own rate is read against."""
    try:
        import torch
    except ImportError:
        return None
    a, b = torch.randn(side, side), torch.randn(side, side)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * side**3 / statistics.median(times) / 1e9


def library_versions(names: tuple[str, ...] = LIBRARIES) -> str:
    versions = []
    for name in names:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join(versions)


def machine_header(peak: bool = True) -> str:
    """Lines to print above a benchmark's table: date, CPU, threads, matmul peak, library versions."""
    lines = [f"date: {datetime.date.today().isoformat()}", f"CPU: {cpu_description()}"]
    try:
        import torch

        lines.append(f"torch threads: {torch.get_num_threads()}")
    except ImportError:
        pass
    rate = matmul_peak_gflops() if peak else None
    if rate is not None:
        lines.append(f"fp32 matmul peak (torch, 2048³): {rate:.0f} GFLOP/s")
    lines.append(f"python {platform.python_version()}, {library_versions()}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(machine_header())
