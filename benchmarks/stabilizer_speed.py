"""Cost per frame of the flow stabiliser (`inference.stabilize.FlowStabilizer`) at a few frame sizes.

    python benchmarks/stabilizer_speed.py [--frames 30] [--sizes 640x360,1280x720]

Frames are a textured scene panning by 2 pixels a frame with a flickering disparity, so the flow, the
warp and the robust fit all do real work. Prints the median milliseconds per frame (the first frame,
which only stores its state, is left out). CPU time is shared: say how busy the machine was.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import cv2
import numpy as np
from machine import machine_header  # date, CPU, matmul peak and versions above every table

from depth_anything.inference.stabilize import FlowStabilizer


def _frames(count: int, width: int, height: int):
    rng = np.random.default_rng(0)
    canvas = cv2.GaussianBlur(rng.uniform(0, 255, (height, width + 2 * count)).astype(np.float32), (0, 0), 2.0)
    canvas = cv2.normalize(canvas, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    yy = np.mgrid[0:height, 0 : width + 2 * count][0].astype(np.float32)
    disparity = 1.0 + yy / height
    for i in range(count):
        crop = slice(2 * i, 2 * i + width)
        scale, shift = rng.uniform(0.8, 1.2), rng.uniform(-0.2, 0.2)
        yield np.repeat(canvas[:, crop, None], 3, axis=2), (scale * disparity[:, crop] + shift).astype(np.float32)


def main() -> None:
    """Time the stabiliser at each size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--sizes", default="640x360,1280x720")
    args = parser.parse_args()
    print(machine_header(), flush=True)
    print(f"CPU cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, OpenCV threads {cv2.getNumThreads()}")
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        stabilizer = FlowStabilizer()
        times = []
        for image, disparity in _frames(args.frames, width, height):
            start = time.perf_counter()
            stabilizer(image, disparity)
            times.append(time.perf_counter() - start)
        print(f"{width}x{height}: {1000 * statistics.median(times[1:]):.1f} ms per frame (median of {len(times) - 1})")


if __name__ == "__main__":
    main()
