"""Small H.264 files for the video tests (imported by name: `video_helpers`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np


def write_h264(path: Path, frames: Iterable[np.ndarray], fps: int, lossless: bool = False) -> Path:
    """Encode RGB uint8 frames (all one size) as an H.264 file at `fps`: yuv420p, or yuv444p at qp 0
    with `lossless` (decoded pixels then equal the frames)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        for index, frame in enumerate(frames):
            if index == 0:
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = "yuv444p" if lossless else "yuv420p"
                if lossless:
                    stream.options = {"qp": "0"}
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return path
