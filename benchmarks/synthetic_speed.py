"""Images per second of the synthetic data engine (not a test: timings depend on the machine).

    python benchmarks/synthetic_speed.py [--count 40] [--sizes 256 518] [--workers 1 2]

For each size it prints the rendering speed in this process and the speed of `write_dataset`
(render + PNG/npy/mask files + manifest) with each number of worker processes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from depth_anything.data.synthetic import SynthConfig, generate_sample
from depth_anything.data.synthetic_io import write_dataset


def images_per_second(work, count: int) -> float:
    """Run `work()` once and return count / elapsed seconds."""
    start = time.perf_counter()
    work()
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="images per measurement")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 518])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU cores; {args.count} images per measurement, seed {args.seed}")
    for size in args.sizes:
        config = SynthConfig(width=size, height=size)
        generate_sample(args.seed + 1, 0, config)  # warm-up: photo textures loaded once per process
        render = images_per_second(
            lambda config=config: [generate_sample(args.seed, i, config) for i in range(args.count)], args.count)
        line = f"{size}x{size}: render {render:6.1f} img/s"
        for workers in args.workers:
            with tempfile.TemporaryDirectory() as folder:
                speed = images_per_second(
                    lambda config=config, workers=workers, folder=folder: write_dataset(
                        folder, args.count, seed=args.seed, config=config, workers=workers), args.count)
            line += f" | write, {workers} worker{'s' if workers > 1 else ''} {speed:6.1f} img/s"
        print(line, flush=True)


if __name__ == "__main__":
    main()
