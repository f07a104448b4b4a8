"""Write pseudo-labels (teacher disparity) for a folder of unlabeled images; resumable, torchrun-sharded.

Examples:
  depth-anything label --model runs/teacher/model.pt --data photos/ --outdir pseudo/
  torchrun --nproc_per_node 8 --no-python depth-anything label --model teacher.pt --data photos/ --outdir pseudo/
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .options import (
    HelpFormatter,
    add_data_option,
    add_model_options,
    add_outdir_option,
    add_progress_option,
    hide_aliases,
    library_messages,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything label`."""
    from ..data.pseudo import ENCODINGS

    parser.formatter_class = HelpFormatter
    add_data_option(parser, required=True, help="dataset folder: the unlabeled images (searched recursively)",
                    aliases=("--images",))
    add_outdir_option(parser, default=None, required=True, help="output folder: labels/ and manifest.json")
    hide_aliases(parser.add_argument("--label-format", "--format", default="npy16", choices=tuple(ENCODINGS),
                                     help="label files: npy16 (float16 .npy) or png16 (16-bit PNG) (default %(default)s)"),
                 "--format")
    add_model_options(parser, default="the small built-in model; usually a trained teacher checkpoint",
                      device_default="the local rank's GPU, else the CPU")
    add_progress_option(parser)


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
    """Label (the teacher opened on this rank's device), then print counts and throughput (rank 0)."""
    from ..train.distributed import shutdown_distributed
    from ..train.label import label_images
    from ..weights.registry import DEFAULT_MODEL
    from .options import open_predictor_from_args

    main_rank = int(os.environ.get("RANK", "0")) == 0  # one bar and one summary per job, not one per process
    bar = _Bar() if main_rank and not args.no_progress else None
    with library_messages("label"):
        try:
            result = label_images(
                args.model or DEFAULT_MODEL, args.data, args.outdir, args.label_format, args.input_size,
                args.batch_size, args.device, args.dtype, progress=bar,
                opener=lambda device: open_predictor_from_args(args, device=str(device)),  # this rank's device
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
