"""Render a synthetic dataset with exact depth (resumable: re-run to continue).

Writes image/NAME.png, depth/NAME.npy (float16 metres, 0 = invalid), mask/NAME.png, dataset.json
and manifest.jsonl into --outdir. The same --seed always gives the same bytes, with any --workers;
an interrupted run keeps every finished sample, and running it again renders only the rest.

With --frames N it renders --count camera sequences of N frames instead (one scene each, the camera
panning, dollying or orbiting; exact depth, intrinsics and pose per frame), in the sequence layout that
`depth-anything eval --benchmark video-synthetic` reads: sequences.json, manifest.jsonl and
seqNNNNN/{image,depth,mask}/FRAME.*; resumable sequence by sequence.
"""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from .options import FRACTION, IntAtLeast, add_outdir_option, add_progress_option

if TYPE_CHECKING:
    from ..data.synthetic import SynthConfig


def parse_size(text: str) -> tuple[int, int]:
    """'384' → (384, 384); '640x480' → (640, 480) as (width, height)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"size must be N or WIDTHxHEIGHT (e.g. 384 or 640x480), got {text!r}")
    width = int(match.group(1))
    height = int(match.group(2) or width)
    for value in (width, height):
        if not 8 <= value <= 8192:
            raise argparse.ArgumentTypeError(f"image sides must lie between 8 and 8192 pixels, got {text!r}")
    return width, height


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `depth-anything synth`."""
    add_outdir_option(parser, default=None, required=True,
                      help="output folder: the dataset (created; an existing one is continued)")
    parser.add_argument("--count", required=True, type=IntAtLeast(1), help="number of samples")
    parser.add_argument("--size", type=parse_size, default=(384, 384), help="N (square) or WIDTHxHEIGHT (default 384)")
    parser.add_argument("--seed", type=IntAtLeast(0), default=0, help="random seed (default %(default)s)")
    parser.add_argument("--workers", type=IntAtLeast(1), default=1, help="processes (default %(default)s)")
    parser.add_argument("--image-format", choices=("png", "jpg"), default="png", help="image files (default %(default)s)")
    parser.add_argument("--indoor-fraction", type=FRACTION, default=0.5,
                        help="share of indoor scenes, in [0, 1] (default %(default)s)")
    parser.add_argument("--frames", type=IntAtLeast(2), default=None, metavar="N",
                        help="render camera sequences of N frames each (pan, dolly, orbit) instead of single images; "
                        "--count is then the number of sequences (32 or more for video models)")
    add_progress_option(parser, aliases=("--quiet",))


def run(args: argparse.Namespace) -> int:
    """Generate the dataset and report what was written."""
    from tqdm import tqdm

    from ..data.synthetic import SynthConfig, write_dataset

    width, height = args.size
    config = SynthConfig(width=width, height=height, indoor_fraction=args.indoor_fraction)
    if args.frames is not None:
        return _run_sequences(args, config)
    with tqdm(total=args.count, unit="img", disable=args.no_progress, desc="synth") as bar:

        def progress(done: int, total: int) -> None:
            bar.n = done
            bar.refresh()

        try:
            report = write_dataset(args.outdir, args.count, seed=args.seed, config=config, workers=args.workers,
                                   image_format=args.image_format, progress=progress)
        except KeyboardInterrupt:
            bar.close()
            print(f"interrupted: {bar.n} of {args.count} samples are finished in {args.outdir}; "
                  "run the same command again to continue")
            return 130
    print(f"{report.root}: {report.written} samples written, {report.skipped} already there "
          f"({width}x{height}, seed {args.seed})")
    return 0


def _run_sequences(args: argparse.Namespace, config: SynthConfig) -> int:
    """Render --count camera sequences of --frames frames each."""
    from tqdm import tqdm

    from ..data.synthetic.sequence import write_sequences
    from ..errors import ConfigError

    if args.workers != 1:
        raise ConfigError("--frames renders sequences in one process; leave out --workers")
    if args.image_format != "png":
        raise ConfigError("--frames writes PNG frames; leave out --image-format")
    with tqdm(total=args.count, unit="seq", disable=args.no_progress, desc="synth sequences") as bar:

        def progress(done: int, total: int) -> None:
            bar.n = done
            bar.refresh()

        try:
            written, skipped = write_sequences(args.outdir, args.count, args.frames, seed=args.seed, config=config,
                                               progress=progress)
        except KeyboardInterrupt:
            bar.close()
            print(f"interrupted: {bar.n} of {args.count} sequences are finished in {args.outdir}; "
                  "run the same command again to continue")
            return 130
    print(f"{args.outdir}: {written} sequences of {args.frames} frames written, {skipped} already there "
          f"({config.width}x{config.height}, seed {args.seed})")
    return 0
