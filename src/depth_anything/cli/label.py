"""Write pseudo-labels (teacher disparity) for a folder of images or for tar shards; resumable, torchrun- or
Ray-sharded.

Examples:
  depth-anything label --model runs/teacher/model.pt --data photos/ --outdir pseudo/
  torchrun --nproc_per_node 8 --no-python depth-anything label --model teacher.pt --data photos/ --outdir pseudo/
  depth-anything label --model teacher.pt --data 'shards/{000000..000999}.tar' --outdir pseudo/
  depth-anything label --model teacher.pt --data 's3://bucket/shards/{000..099}.tar' --outdir pseudo/ --engine ray
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .options import (
    HelpFormatter,
    IntAtLeast,
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
    add_data_option(parser, required=True, aliases=("--images",),
                    help="dataset folder: the unlabeled images (searched recursively), or tar shards (a brace "
                         "pattern such as 'data/{000000..000999}.tar', a .tar file, a folder of them with --shards, "
                         "or fsspec URLs)")
    add_outdir_option(parser, default=None, required=True,
                      help="output folder: labels/ and manifest.json (folder in), or label shards, index.jsonl and "
                           "teacher.json (shards in)")
    parser.add_argument("--shards", action="store_true",
                        help="read --data as shards: a folder of .tar files (patterns, URLs and .tar files are "
                             "recognised without it)")
    parser.add_argument("--engine", default="torch", choices=("torch", "ray"),
                        help="shards only: torch (this process, or one rank of torchrun) or ray (Ray Data, "
                             "an actor pool holding the teacher) (default %(default)s)")
    parser.add_argument("--ray-address", default=None,
                        help="--engine ray: the cluster to join (e.g. ray://head:10001; default: the running one, "
                             "else a new local one)")
    parser.add_argument("--ray-actors", type=IntAtLeast(1), default=1, help="--engine ray: teacher actors (default %(default)s)")
    parser.add_argument("--ray-writes", default="driver", choices=("driver", "workers"),
                        help="--engine ray: who writes the label shards: the driver (--outdir on its machine; every "
                             "label passes through it) or the workers (each actor writes the shards it labels: "
                             "--outdir must be shared by every node) (default %(default)s)")
    parser.add_argument("--no-quality", action="store_true",
                        help="shards only: skip the quality score (the mirrored image's pass; halves the work)")
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
        self.unit = "img"

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, initial=done, desc="label", unit=self.unit, file=sys.stderr)
        else:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args: argparse.Namespace) -> int:
    """Label (the teacher opened on this rank's device), then print counts and throughput (rank 0)."""
    from ..data.shards import is_shard_input
    from ..train.distributed import shutdown_distributed
    from ..train.label import label_images
    from ..weights.registry import DEFAULT_MODEL
    from .options import open_predictor_from_args

    main_rank = int(os.environ.get("RANK", "0")) == 0  # one bar and one summary per job, not one per process
    bar = _Bar() if main_rank and not args.no_progress else None
    if args.shards or is_shard_input(args.data):
        return _run_shards(args, bar, main_rank)
    shard_only = [flag for flag, given in (("--engine ray", args.engine == "ray"),
                                           ("--ray-address", args.ray_address is not None),
                                           ("--ray-actors", args.ray_actors != 1),
                                           ("--ray-writes", args.ray_writes != "driver"),
                                           ("--no-quality", args.no_quality)) if given]
    if shard_only:  # folder mode has no Ray engine and no quality score: say so rather than ignore them
        from ..errors import ConfigError

        raise ConfigError(f"{', '.join(shard_only)}: for tar shards only; --data {args.data} is a folder of "
                          "images (add --shards if it is a folder of .tar shards)")
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


def _run_shards(args: argparse.Namespace, bar: _Bar | None, main_rank: int) -> int:
    """Label shards (torchrun ranks or Ray), then print counts, throughput and the quality distribution."""
    from ..train.distributed import shutdown_distributed
    from ..train.label_shards import label_shards, quality_summary
    from ..weights.registry import DEFAULT_MODEL
    from .options import open_predictor_from_args

    if bar is not None:
        bar.unit = "shard"
    common = {"encoding": args.label_format, "input_size": args.input_size, "batch_size": args.batch_size,
              "device": args.device, "dtype": args.dtype, "quality": not args.no_quality, "progress": bar,
              "opener": lambda device: open_predictor_from_args(args, device=str(device))}
    with library_messages("label"):
        try:
            if args.engine == "ray":
                from ..train.label_ray import label_shards_on_ray

                result = label_shards_on_ray(args.model or DEFAULT_MODEL, args.data, args.outdir,
                                             address=args.ray_address, actors=args.ray_actors,
                                             writes=args.ray_writes, **common)
            else:
                result = label_shards(args.model or DEFAULT_MODEL, args.data, args.outdir, **common)
        finally:
            if bar is not None:
                bar.close()
            shutdown_distributed()
    if main_rank:
        for message in result.errors:
            print(f"not labelled: {message}", file=sys.stderr)
        print(
            f"labeled {result.labeled} images in {result.shards_done} shards in {result.seconds:.1f} s "
            f"({result.images_per_second:.2f} images/s); {result.shards_skipped} shards already done, "
            f"{result.shards_failed} shards unreadable (retried by a rerun), {result.failed} images unreadable; "
            f"index: {result.index}"
        )
        print(quality_summary(result.quality))
    return 1 if result.shards_failed else 0
