"""Argument types and option groups that several subcommands share (one definition each)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..inference import Predictor, Tiling


def set_examples(parser: argparse.ArgumentParser, epilog: str) -> None:
    """Keep the line breaks of a subcommand's description and put `epilog` (its examples) after the flags."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = epilog


def int_at_least(low: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer of at least `low`, with a message naming the option."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{what} must be at least {low}, got {value}")
        return value

    return parse


def colormap_name(text: str) -> str:
    """An argparse type: a matplotlib colour map name, refused with the list's best-known names."""
    from ..pictures import colormap_lut

    try:
        colormap_lut(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_picture_options(parser: argparse.ArgumentParser) -> None:
    """--cmap and --grayscale: how depth pictures are drawn."""
    parser.add_argument("--cmap", type=colormap_name, default="Spectral_r",
                        help="any matplotlib colour map (default Spectral_r, near = red)")
    parser.add_argument("--grayscale", action="store_true", help="grey depth pictures (white = near) instead of the colour map")


def add_inference_options(
    parser: argparse.ArgumentParser,
    device_help: str = "cuda, mps or cpu (default: best available; built-in models under --backend auto: the CPU)",
) -> None:
    """--input-size, --batch-size, --device, --dtype: how the shared `Predictor` runs."""
    parser.add_argument(
        "--input-size", type=int_at_least(1, "--input-size"), default=None,
        help="shorter side of the network input, rounded to a multiple of the patch size "
        "(default: the size stored with the weights, 518 for the published ones)",
    )
    parser.add_argument("--batch-size", type=int_at_least(1, "--batch-size"), default=4, help="images per forward pass (default 4)")
    parser.add_argument("--device", default=None, help=device_help)
    parser.add_argument("--dtype", default=None, help="fp32 (default), fp16 or bf16")


def add_model_options(parser: argparse.ArgumentParser, model_help: str | None = None) -> None:
    """--model and --backend, plus the inference options: which weights run, and where."""
    from ..inference.loading import AUTO
    from ..inference.runtimes import BACKENDS

    parser.add_argument(
        "--model", default=None,
        help=model_help or "model name (default: the small built-in model; vits, vitl, metric-hypersim-vitl, ...), "
        "checkpoint path, or an exported file with --backend",
    )
    parser.add_argument("--backend", default=AUTO, choices=(AUTO, *BACKENDS),
                        help="runtime: auto (default: a built-in model runs its shipped ONNX graph on onnxruntime on "
                        "the CPU in fp32 (without --device they do not look for a GPU), starting without importing torch; "
                        "an exported .onnx/.xml file runs on onnxruntime/openvino; anything else runs on torch), torch, "
                        "or onnxruntime/openvino with --model FILE from `depth-anything export` or a built-in model "
                        "(OpenVINO infers in f32 unless --dtype fp16/bf16; its CPU default may be bf16)")
    add_inference_options(parser)


def add_random_weights_option(parser: argparse.ArgumentParser) -> None:
    """--random-weights ENCODER: an untrained network, to try a command without any weights file."""
    parser.add_argument(
        "--random-weights", metavar="ENCODER",
        help="UNTRAINED network of a registered size (vits, vitb, vitl, vitg, vitc), only to try the pipeline: "
        "its output is NOT depth",
    )


def open_predictor_from_args(
    args: argparse.Namespace, default_model: str | None = None, download: str = "vits", tiling: Tiling | None = None
) -> Predictor:
    """The `Predictor` that --model/--backend/--device/--dtype/--input-size/--batch-size (and
    --random-weights, where a command has it) ask for, tiled with `tiling` if given; a missing built-in
    model says how to get one (--model `download`, a published model that is downloaded, or a checkpoint path)."""
    import sys

    from ..builtin import DEFAULT_MODEL
    from ..errors import ConfigError, WeightsNotFoundError
    from ..inference import Predictor, open_predictor

    default_model = default_model or DEFAULT_MODEL
    random_weights = getattr(args, "random_weights", None)
    if random_weights:
        if args.model is not None:
            raise ConfigError("--model and --random-weights exclude each other")
        from ..models import build_model
        from ..runtime import resolve_device

        print(f"WARNING: --random-weights {random_weights}: an UNTRAINED network, its output is not depth", file=sys.stderr)
        return Predictor(build_model(random_weights), resolve_device(args.device), args.dtype, args.input_size,
                         args.batch_size, tiling=tiling)
    try:
        return open_predictor(args.model or default_model, args.backend, args.device, args.dtype, args.input_size,
                              args.batch_size, tiling=tiling)
    except WeightsNotFoundError as exc:
        if args.model is not None:
            raise
        raise WeightsNotFoundError(
            f"no built-in model in this install ({exc}); pass --model {download} (downloads a published model) "
            "or --model with a checkpoint path"
        ) from None


class _AboveBars(logging.Handler):
    """Writes records to stderr through tqdm, so a progress bar is redrawn below them, not torn."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise into the run
            self.handleError(record)


@contextmanager
def library_messages(command: str) -> Iterator[None]:
    """While a command runs, show the library's messages (INFO and above) on stderr as
    ``depth-anything COMMAND: message``."""
    logger = logging.getLogger("depth_anything")
    handler = _AboveBars()
    handler.setFormatter(logging.Formatter(f"depth-anything {command}: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
