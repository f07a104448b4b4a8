"""Images per second of the synthetic data engine (not a test: timings depend on the machine).

    python benchmarks/synthetic_speed.py [--count 40] [--sizes 256 518] [--workers 1 2]

For each size it prints the rendering speed in this process and the speed of `write_dataset`
(render + PNG/npy/mask files + manifest) with each number of worker processes. Beside the wall-clock
speed it prints images per CPU-second (this process and its finished workers), which is what one
idle core would give: on a machine shared with other jobs the wall-clock number is the lower one.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable

from machine import machine_header  # date, CPU, matmul peak and versions above every table

from depth_anything.data.synthetic import SynthConfig, generate_sample, write_dataset


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(work: Callable[[], object], count: int) -> tuple[float, float]:
    """Run `work()` once: (images per wall-clock second, images per CPU-second)."""
    wall, cpu = time.perf_counter(), _cpu_seconds()
    work()
    return count / (time.perf_counter() - wall), count / (_cpu_seconds() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="images per measurement")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 518])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(machine_header(peak=False), flush=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPU cores, load average {load}; {args.count} images per measurement, seed {args.seed}")
    print("images/s: wall clock (per CPU-second)")
    for size in args.sizes:
        config = SynthConfig(width=size, height=size)
        generate_sample(args.seed + 1, 0, config)  # warm-up: photo textures load once per process
        wall, cpu = measure(lambda config=config: [generate_sample(args.seed, i, config) for i in range(args.count)],
                            args.count)
        line = f"{size}x{size}: render {wall:5.1f} ({cpu:5.1f})"
        for workers in args.workers:
            with tempfile.TemporaryDirectory() as folder:
                wall, cpu = measure(lambda config=config, workers=workers, folder=folder: write_dataset(
                    folder, args.count, seed=args.seed, config=config, workers=workers), args.count)
            line += f" | write, {workers} worker{'s' if workers > 1 else ''} {wall:5.1f} ({cpu:5.1f})"
        print(line, flush=True)
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
