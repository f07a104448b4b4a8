"""Predict depth for images or folders and write pictures, 16-bit PNGs or .npy files.

Examples:
  depth-anything predict photo.jpg --model vits --out outputs/
  depth-anything predict photos/ --model depth_anything_v2_vitl.pth --formats color,npy --dtype fp16
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from .options import add_inference_options

FORMATS = ("color", "side", "png16", "npy")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="image files or folders (searched recursively)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="model name (vits, vitb, vitl, metric-hypersim-vitl, ...) or checkpoint path")
    source.add_argument(
        "--random-weights", metavar="ENCODER", choices=("vits", "vitb", "vitl", "vitg"),
        help="use an untrained network of this size: only to try the pipeline; its output is NOT depth",
    )
    parser.add_argument("--out", default="outputs", help="output folder (default: outputs)")
    parser.add_argument("--formats", default="color", help=f"comma-separated subset of {','.join(FORMATS)}")
    add_inference_options(parser)
    parser.add_argument("--cmap", default="Spectral_r", help="matplotlib colour map of the pictures (default Spectral_r)")


def _collect(inputs: list[str], out: Path) -> list[Path]:
    from ..io import is_image_file, list_images

    out = out.resolve()
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():  # our own outputs inside an input folder are not inputs (a rerun would grow)
            paths.extend(p for p in list_images(path) if not p.resolve().is_relative_to(out))
        elif path.exists() and not is_image_file(path):
            print(f"skipping {path}: not an image file name", file=sys.stderr)
        else:
            paths.append(path)  # missing files are reported by the predictor with their name
    return paths


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..inference import Predictor
    from ..io import save_depth_png16, save_image, save_npy
    from ..pictures import colorize_depth, side_by_side

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ConfigError(f"--formats: unknown {unknown or 'empty list'}; choose from {', '.join(FORMATS)}")
    paths = _collect(args.inputs, Path(args.out))
    if not paths:
        raise ConfigError("no input images found")
    if args.random_weights:
        from ..models import build_model
        from ..runtime import resolve_device, resolve_dtype

        print(f"WARNING: --random-weights {args.random_weights}: untrained network, the output is not depth", file=sys.stderr)
        model = build_model(args.random_weights).to(resolve_device(args.device), resolve_dtype(args.dtype))
    else:
        from ..weights import load_model

        model = load_model(args.model, device=args.device, dtype=args.dtype)
    predictor = Predictor(model, input_size=args.input_size, batch_size=args.batch_size)
    out = Path(args.out)
    metric = predictor.is_metric
    failed, start = 0, time.perf_counter()
    for done, result in enumerate(predictor.iter_results(paths), start=1):
        if result.error is not None:
            failed += 1
            print(f"[{done}/{len(paths)}] skipped: {result.error}", file=sys.stderr)
            continue
        stem = out / Path(result.source).stem
        depth: np.ndarray = result.depth  # type: ignore[assignment]
        picture = colorize_depth(depth, args.cmap, invert=metric)
        if "color" in formats:
            save_image(stem.with_name(stem.name + "_depth.png"), picture)
        if "side" in formats:  # the input and its depth side by side, as the official demo writes them
            save_image(stem.with_name(stem.name + "_side.png"), side_by_side(result.image, picture))
        if "png16" in formats:  # metric: millimetres; relative: min–max scaled to the full 16-bit range
            scale = 1000.0 if metric else 65535.0 / max(float(depth.max() - depth.min()), 1e-12)
            save_depth_png16(stem.with_name(stem.name + "_depth16.png"), depth - (0 if metric else depth.min()), scale)
        if "npy" in formats:
            save_npy(stem.with_name(stem.name + ".npy"), depth)
        print(f"[{done}/{len(paths)}] {result.source} → {stem}_depth.* ({depth.shape[1]}×{depth.shape[0]})")
    elapsed = time.perf_counter() - start
    print(f"{len(paths) - failed} image(s) written to {out} in {elapsed:.1f} s; {failed} skipped")
    return 1 if failed else 0
