"""Evaluate a model on a benchmark with the Depth Anything V2 protocol and print the paper's table.

Relative models are scored with the zero-shot protocol (least-squares scale and shift on disparity,
depth range and standard crop of the dataset); metric models with the metric protocol (no alignment,
or --alignment median; NYU 10 m, KITTI 80 m caps). `--benchmark da2k` scores point-pair ordering;
`--benchmark middlebury` scores the real Middlebury motorcycle that scikit-image ships (no --data).
`--baseline constant|row-ramp` scores a baseline instead of a model. Samples that cannot be scored are
listed with their reason and left out of the averages.

Video benchmarks (`--benchmark video-synthetic|video-sintel|video-kitti|video-bonn|video-scannet|video-nyuv2`)
use Video Depth Anything's protocol: one scale and shift per sequence, AbsRel and δ1 per frame, and the
temporal alignment error TAE where the data has poses (synthetic sequences, ScanNet's tae split). Per-frame
models predict each frame (`--stabilize on` runs the video stabiliser over them); Video Depth Anything
models run their offline windows.

Examples:
  depth-anything eval --benchmark nyu --data /data/nyu --model vitl
  depth-anything eval --benchmark synthetic --data runs/default/test --split all
  depth-anything eval --benchmark middlebury --baseline row-ramp
  depth-anything eval --benchmark video-synthetic --data runs/sequences --stabilize on
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..weights.registry import DEFAULT_MODEL
from .options import (
    FloatRange,
    IntAtLeast,
    add_data_option,
    add_model_options,
    add_out_option,
    add_progress_option,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything eval`."""
    from ..eval.baselines import BASELINES
    from ..eval.benchmarks import BENCHMARKS
    from ..eval.protocols import ALIGNMENTS, CROPS
    from ..eval.video import VIDEO_BENCHMARKS

    parser.add_argument("--benchmark", required=True, choices=[*BENCHMARKS, "da2k", "middlebury", *VIDEO_BENCHMARKS],
                        help="benchmark to run")
    add_data_option(parser, help="dataset folder: the benchmark in its published layout (not for middlebury)")
    parser.add_argument("--baseline", choices=BASELINES, help="score a baseline map instead of a model")
    add_out_option(parser, help="output file: the full report (averages, per-sample, exclusions) as JSON")
    parser.add_argument("--save-predictions", type=Path, metavar="DIR",
                        help="keep raw per-image predictions (.npy) here; a re-run reuses them instead of inferring")
    parser.add_argument("--protocol", choices=["auto", "relative", "metric"], default="auto",
                        help="auto: relative for relative models, metric for metric models")
    parser.add_argument("--alignment", choices=ALIGNMENTS, help="override: affine (relative default), median, none")
    parser.add_argument("--min-depth", type=FloatRange(0.0), help="override the dataset's minimum depth (m)")
    parser.add_argument("--max-depth", type=FloatRange(0.0, low_open=True), help="override the dataset's depth cap (m)")
    parser.add_argument("--crop", choices=[*CROPS, "none"], help="override the dataset's evaluation crop")
    parser.add_argument("--split", help="dataset split (default: the benchmark's test split)")
    parser.add_argument("--split-file", type=Path, help="split list (KITTI Eigen / NYU file list)")
    parser.add_argument("--limit", type=IntAtLeast(1), metavar="N", help="evaluate only the first N samples (quick checks)")
    parser.add_argument("--stabilize", choices=("on", "off"), default="off",
                        help="align each frame of a per-frame relative model to the previous output "
                        "(video benchmarks; default off)")
    add_model_options(parser)
    add_progress_option(parser)


class _Bar:
    """The progress bar on stderr, drawn from the evaluation's `progress(done, total, **counts)` calls;
    it closes itself when the last sample is done."""

    def __init__(self, description: str) -> None:
        self.description, self.bar = description, None

    def __call__(self, done: int, total: int, **counts: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.description, unit="img", dynamic_ncols=True)
        self.bar.update(done - self.bar.n)
        if counts:
            self.bar.set_postfix(**counts)
        if done >= total:
            self.bar.close()


def _model_label(name: str) -> str:
    path = Path(name)
    return path.stem if path.exists() else name


SPLIT_FILE_BENCHMARKS = ("kitti", "nyu")  # the readers that take a split list


def _prediction_identity(args: argparse.Namespace, input_size: int) -> str:
    """What decides the raw predictions: the weights (see `weights_identity`), the input size, the dtype,
    the backend (runtimes agree to about 1e-5, not bit for bit), and the data they were made for
    (benchmark, folder, split), since sample names repeat across datasets."""
    from ..weights import weights_identity

    weights = weights_identity(args.model or DEFAULT_MODEL)
    data = f"{args.benchmark} at {Path(args.data).resolve()}, split {args.split or 'default'}"
    if args.split_file is not None:
        data += f" from {Path(args.split_file).resolve()}"
    return (f"{json.dumps(weights, sort_keys=True)}, input size {input_size}, "
            f"dtype {args.dtype or 'fp32'}, backend {args.backend}; {data}")


def run(args: argparse.Namespace) -> int:
    """Load the model, evaluate, print the Markdown table, optionally write JSON."""
    from ..eval.baselines import baseline_predictor
    from ..eval.benchmarks import PredictionStore, evaluate_benchmark
    from ..eval.da2k import evaluate_da2k
    from ..eval.middlebury import evaluate_motorcycle
    from ..io import atomic_write_text
    from .options import open_predictor_from_args

    if args.data is None and args.benchmark != "middlebury":
        raise ConfigError(f"--benchmark {args.benchmark} needs --data (the benchmark folder)")
    if args.benchmark.startswith("video-"):
        return _run_video(args)
    if args.stabilize == "on":
        raise ConfigError("--stabilize applies to the video benchmarks (video-*) only")
    if args.baseline is not None:
        if args.model is not None:
            raise ConfigError("--baseline and --model exclude each other")
        predict, pred_kind, label, input_size = baseline_predictor(args.baseline), "disparity", args.baseline, None
    else:
        predictor = open_predictor_from_args(args)
        predict, input_size = predictor.predict, predictor.input_size
        pred_kind = "depth" if predictor.is_metric else "disparity"
        label = _model_label(args.model or DEFAULT_MODEL)
    if args.benchmark == "middlebury":
        score = evaluate_motorcycle(predict, metric=pred_kind == "depth")
        print("| Model | Benchmark | Pairs | Pairwise ↑ | AbsRel ↓ | δ1 ↑ |\n|---|---|---:|---:|---:|---:|")
        print(f"| {label} | middlebury motorcycle | {score.pairs} | {score.pairwise:.3f} | {score.abs_rel:.3f} | {score.d1:.3f} |")
        if args.out is not None:
            atomic_write_text(args.out, json.dumps({"model": label, **score.to_dict()}, indent=2) + "\n")
        return 0
    store = None
    if args.save_predictions:
        if args.baseline is not None:
            raise ConfigError("--save-predictions keeps a model's predictions; a baseline needs none")
        store = PredictionStore(args.save_predictions, _prediction_identity(args, input_size), pred_kind)
    loop: dict[str, Any] = {
        "pred_kind": pred_kind, "model_name": label, "batch_size": args.batch_size, "predictions": store,
        "progress": None if args.no_progress else _Bar(f"eval {args.benchmark}"), "limit": args.limit,
    }
    if args.benchmark == "da2k":
        report = evaluate_da2k(args.data, predict, **loop)
        scored = report.overall.total
    else:
        reader_options: dict[str, Any] = {}
        if args.split is not None:
            reader_options["split"] = args.split
        if args.split_file is not None:
            if args.benchmark not in SPLIT_FILE_BENCHMARKS:
                raise ConfigError(
                    f"--split-file: the {args.benchmark} benchmark has no split lists; "
                    f"it applies to {', '.join(SPLIT_FILE_BENCHMARKS)}"
                )
            reader_options["split_file"] = args.split_file
        report = evaluate_benchmark(
            args.benchmark, args.data, predict,
            kind=None if args.protocol == "auto" else args.protocol, alignment=args.alignment,
            min_depth=args.min_depth, max_depth=args.max_depth,
            crop="default" if args.crop is None else args.crop,
            reader_options=reader_options, **loop,
        )
        scored = report.num_evaluated
        if report.expected_size is not None and not report.complete:
            print(
                f"note: {report.num_evaluated} of the published {report.expected_size} {args.benchmark} samples "
                "were scored; the averages are not directly comparable with the paper",
                file=sys.stderr,
            )
    _print_exclusions(report.excluded)
    print(report.markdown())
    if args.out is not None:
        atomic_write_text(args.out, json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
        print(f"report written to {args.out}", file=sys.stderr)
    return 0 if scored else 1


def _run_video(args: argparse.Namespace) -> int:
    """A video benchmark: per-frame models frame by frame (optionally stabilised), VDA models by windows."""
    from ..eval.baselines import baseline_predictor
    from ..eval.video import evaluate_video, per_frame_predictor, stabilized, video_model_predictor
    from ..io import atomic_write_text
    from .options import load_model_from_args, open_predictor_from_args
    from .video import _is_video_model

    for flag, value in (("--save-predictions", args.save_predictions), ("--split-file", args.split_file),
                        ("--alignment", args.alignment), ("--crop", args.crop), ("--min-depth", args.min_depth)):
        if value is not None:
            raise ConfigError(f"{flag} does not apply to the video benchmarks (one scale and shift per sequence)")
    metric = False
    if args.baseline is not None:
        if args.model is not None:
            raise ConfigError("--baseline and --model exclude each other")
        predict, label = per_frame_predictor(baseline_predictor(args.baseline)), args.baseline
    elif args.model is not None and getattr(args, "random_weights", None) is None and _is_video_model(args.model):
        from ..runtime import resolve_device

        if args.stabilize == "on":
            raise ConfigError("--stabilize is for per-frame models; a Video Depth Anything model is temporal already")
        model, label = load_model_from_args(args, device=str(resolve_device(args.device)))
        metric = bool(model.metric)
        predict = video_model_predictor(model, args.input_size or model.input_spec.input_size)  # 128 for default-video
        label = _model_label(label)
    else:
        predictor = open_predictor_from_args(args)
        metric = bool(predictor.is_metric)
        if args.stabilize == "on" and metric:
            raise ConfigError("--stabilize is for relative models; metric depth has no per-frame scale to remove")
        predict = per_frame_predictor(predictor.predict, args.batch_size)
        label = _model_label(args.model or DEFAULT_MODEL)
    if args.stabilize == "on":
        predict, label = stabilized(predict), f"{label} + stabiliser"
    report = evaluate_video(
        args.benchmark, args.data, predict, model_name=label, pred_kind="depth" if metric else "disparity",
        split=args.split, limit=args.limit, max_depth=args.max_depth,
        progress=None if args.no_progress else _Bar(f"eval {args.benchmark}"),
    )
    _print_exclusions(report.excluded)
    print(report.markdown())
    if args.out is not None:
        atomic_write_text(args.out, json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
        print(f"report written to {args.out}", file=sys.stderr)
    return 0 if report.rows else 1


def _print_exclusions(excluded: list[dict[str, str]], shown: int = 10) -> None:
    if not excluded:
        return
    print(f"{len(excluded)} excluded from the averages:", file=sys.stderr)
    for entry in excluded[:shown]:
        print(f"  {entry['name']}: {entry['reason']}", file=sys.stderr)
    if len(excluded) > shown:
        print(f"  ... and {len(excluded) - shown} more (see --out)", file=sys.stderr)
