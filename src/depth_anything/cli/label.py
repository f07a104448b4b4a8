"""Write pseudo-labels (teacher disparity) for a folder of unlabeled images; resumable, torchrun-sharded.

Examples:
  depth-anything label --model runs/teacher/model.pt --images photos/ --out pseudo/
  torchrun --nproc_per_node 8 --no-python depth-anything label --model teacher.pt --images photos/ --out pseudo/
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .options import add_inference_options, library_messages


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything label`."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--model", required=True, help="teacher checkpoint (file or published model name)")
    parser.add_argument("--images", required=True, help="folder of unlabeled images (searched recursively)")
    parser.add_argument("--out", required=True, help="output folder: labels/ and manifest.json")
    parser.add_argument("--format", default="npy16", choices=("npy16", "png16"),
                        help="float16 .npy or 16-bit PNG labels (default npy16)")
    add_inference_options(parser, device_help="cpu, cuda, ... (default: the local rank's GPU, else CPU)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


class _Bar:
    """The progress bar of this rank's share, drawn from `label_images`' progress calls."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, initial=done, desc="label", unit="img", file=sys.stderr)
        else:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args: argparse.Namespace) -> int:
    """Label, then print counts and throughput (rank 0)."""
    from ..train.distributed import shutdown_distributed
    from ..train.label import label_images

    main_rank = int(os.environ.get("RANK", "0")) == 0  # one bar and one summary per job, not one per process
    bar = _Bar() if main_rank and not args.no_progress else None
    with library_messages("label"):
        try:
            result = label_images(
                args.model, args.images, args.out, args.format, args.input_size, args.batch_size,
                args.device, args.dtype, progress=bar,
            )
        finally:
            if bar is not None:
                bar.close()
            shutdown_distributed()
    if main_rank:
        print(
            f"labeled {result.labeled} images in {result.seconds:.1f} s ({result.images_per_second:.2f} images/s); "
            f"{result.skipped_existing} already labeled, {result.failed} unreadable; manifest: {result.manifest}"
        )
    return 0
