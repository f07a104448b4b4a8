"""Frames per second of `depth-anything oak --replay` on the host, beside the archive's network alone (not a test).

    python benchmarks/oak_replay_speed.py [--archive default.tar.xz] [--frames 60] [--size 640x480]

Exports the built-in model as an NN Archive (or takes `--archive`, an unconverted one), writes a
`--frames` clip (a pan over a photo Python packages ship, 30 frames/s), and measures in one run:

- the archive's ONNX graph alone on ONNX Runtime, one frame at a time (what `HostNetwork` runs);
- the whole replay pipeline through `depth_frames`: DepthAI's ReplayVideo decoding, the archive's
  preprocessing, the network, `DepthHost` (resize back, picture) and the blocking queues.

The ratio says what the DepthAI pipeline costs around the network on the host. On a camera the network
runs on the device: these numbers say nothing about a camera's frame rate.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import machine_header  # date, CPU and versions above every table


def write_clip(path: Path, frames: int, width: int, height: int) -> None:
    """A pan over a shipped photo, H.264 at 30 frames/s."""
    import av
    import cv2

    from depth_anything.data.sample_photos import shipped_photo_paths
    from depth_anything.io import load_image

    photo = load_image(shipped_photo_paths()[0])
    wide = cv2.resize(photo, (width * 3 // 2, height), interpolation=cv2.INTER_AREA)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            left = (index * (wide.shape[1] - width)) // max(frames - 1, 1)
            frame = np.ascontiguousarray(wide[:, left : left + width])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))


def network_alone(archive: Path, frames: int) -> float:
    """Frames per second of the archive's ONNX graph on ONNX Runtime, batch 1, after one warm-up run."""
    from depth_anything.export.depthai import archive_model
    from depth_anything.export.nnarchive import read_nnarchive
    from depth_anything.inference.runtimes import OnnxRuntime

    model = archive_model(archive)
    _, graph = read_nnarchive(archive)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        path.write_bytes(graph)
        runtime = OnnxRuntime(path)
    batch = np.random.default_rng(0).random((1, 3, model.height, model.width), dtype=np.float32)
    runtime.run(batch)
    started = time.perf_counter()
    for _ in range(frames):
        runtime.run(batch)
    return frames / (time.perf_counter() - started)


def replay(archive: Path, clip: Path) -> tuple[int, float]:
    """(frames delivered, frames per second from the first result to the last) of the replay pipeline."""
    from depth_anything.export.depthai import build_replay_pipeline, depth_frames

    built = build_replay_pipeline(clip, archive)
    count, first, last = 0, 0.0, 0.0
    for _ in depth_frames(built):
        last = time.perf_counter()
        first = first or last
        count += 1
    return count, (count - 1) / (last - first) if count > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--archive",
        type=Path,
        default=None,
        help="an unconverted NN Archive (default: export the built-in model)",
    )
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", default="640x480")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as folder:
        archive = args.archive
        if archive is None:
            from depth_anything.export.nnarchive import export_nnarchive
            from depth_anything.weights import load_model

            archive = Path(folder) / "default.tar.xz"
            export_nnarchive(load_model(), archive, source="default")
        clip = Path(folder) / "clip.mp4"
        write_clip(clip, args.frames, width, height)
        alone = network_alone(archive, args.frames)
        delivered, through = replay(archive, clip)
    from depth_anything.export.depthai import archive_model

    model = archive_model(archive)
    print(machine_header())
    print(
        f"{archive.name}: network input {model.width}×{model.height}; clip {args.frames} frames at {width}×{height}\n"
    )
    print("| what | frames/s |\n|---|---|")
    print(f"| the archive's ONNX graph alone (ONNX Runtime, batch 1) | {alone:.2f} |")
    print(f"| `oak --replay` pipeline ({delivered} of {args.frames} frames delivered) | {through:.2f} |")
    print(f"| ratio pipeline / network alone | {through / alone:.2f} |")


if __name__ == "__main__":
    main()
