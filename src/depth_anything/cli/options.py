"""Argument types and options that several subcommands share, one definition each.

A flag that two commands have means the same thing in both, with the same type and spelling
(`tests/cli/test_flags.py` walks every parser to check it): `--outdir` is always a folder the command
writes into, `--out` always one file, `--data` the dataset folder a command reads, `--no-progress`
hides a progress bar. Older spellings that meant something else in some command stay accepted as
hidden aliases (`hide_aliases`), so existing scripts keep working. Defaults come from the library's
own constants, never copies of them. A help text starts with what the flag is, in the same words in
every command; what differs between commands (the default, what is kept there) follows a colon or
stands in parentheses.
"""

from __future__ import annotations

import argparse
import copy
import logging
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..inference import Predictor, Tiling


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of a command's description and leaves hidden aliases out of --help."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        hidden = getattr(action, "hidden_aliases", ())
        if hidden:
            action = copy.copy(action)
            action.option_strings = [name for name in action.option_strings if name not in hidden]
        return super()._format_action_invocation(action)


def set_examples(parser: argparse.ArgumentParser, epilog: str) -> None:
    """Keep the line breaks of a subcommand's description and put `epilog` (its examples) after the flags."""
    parser.formatter_class = HelpFormatter
    parser.epilog = epilog


# ------------------------------------------------------------------------------------ argument types
# Types are small frozen dataclasses, so two flags compare equal when they accept the same values (the
# flag test compares them); argparse puts the flag's name before their messages ("argument --tile: ...").
@dataclass(frozen=True)
class IntAtLeast:
    """An argparse type: an integer of at least `low`."""

    low: int

    def __call__(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < self.low:
            raise argparse.ArgumentTypeError(f"must be at least {self.low}, got {value}")
        return value


@dataclass(frozen=True)
class IntRange:
    """An argparse type: an integer from `low` to `high`, both included."""

    low: int
    high: int

    def __call__(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if not self.low <= value <= self.high:
            raise argparse.ArgumentTypeError(f"must be from {self.low} to {self.high}, got {value}")
        return value


@dataclass(frozen=True)
class FloatRange:
    """An argparse type: a finite number between `low` and `high` (None: unbounded), each end included
    unless `low_open`/`high_open`."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        """The accepted range in interval notation, e.g. [0, 0.5) or (0, inf)."""
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        left = "(" if self.low_open or self.low is None else "["
        right = ")" if self.high_open or self.high is None else "]"
        return f"{left}{low}, {high}{right}"

    def __call__(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if not math.isfinite(value) or too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be in {self.describe()}, got {text}")
        return value


@dataclass(frozen=True)
class FormatList:
    """An argparse type: comma-separated output formats, each one of `outputs.<allowed>` (a constant's name,
    read when a value is parsed). Which formats a command writes is its own detail, so --formats has one
    meaning (equal types) in every command whatever `allowed` is."""

    allowed: str = field(default="IMAGE_FORMATS", compare=False)

    def __call__(self, text: str) -> list[str]:
        import importlib

        from ..errors import ConfigError

        outputs = importlib.import_module("depth_anything.outputs")

        try:
            return outputs.parse_formats(text, getattr(outputs, self.allowed))
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).replace("formats= lists", "unknown format(s)")) from None


POSITIVE = FloatRange(0.0, None, low_open=True)
FRACTION = FloatRange(0.0, 1.0)


@dataclass(frozen=True)
class ColormapName:
    """An argparse type: a matplotlib colour map name, refused with the best-known names."""

    def __call__(self, text: str) -> str:
        from ..pictures import colormap_lut

        try:
            colormap_lut(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text


colormap_name = ColormapName()


# ------------------------------------------------------------------------------------------ aliases
def hide_aliases(action: argparse.Action, *names: str) -> argparse.Action:
    """Mark `names`, further option strings of `action`, as older spellings: still accepted, left out
    of --help (`HelpFormatter`) and of the generated reference (they are `action.hidden_aliases`)."""
    missing = [name for name in names if name not in action.option_strings[1:]]
    if missing:
        raise ValueError(f"{', '.join(missing)} must follow the visible name among {action.option_strings}")
    action.hidden_aliases = tuple(names)  # type: ignore[attr-defined]
    return action


# -------------------------------------------------------------------------------------- option sets
def add_outdir_option(parser: argparse.ArgumentParser, help: str, default: str | None = "outputs",
                      required: bool = False) -> None:
    """--outdir DIR: the folder a command writes into (`--out`, its older spelling, stays accepted)."""
    hide_aliases(parser.add_argument("--outdir", "--out", default=default, required=required, metavar="DIR", help=help),
                 "--out")


def add_out_option(parser: argparse.ArgumentParser, help: str, required: bool = False) -> None:
    """--out FILE: the one file a command writes."""
    parser.add_argument("--out", required=required, default=None, metavar="FILE", help=help)


def add_data_option(parser: argparse.ArgumentParser, help: str, required: bool = False, aliases: tuple[str, ...] = ()) -> None:
    """--data DIR: the dataset folder a command reads (`aliases`: older spellings, hidden)."""
    hide_aliases(parser.add_argument("--data", *aliases, required=required, default=None, metavar="DIR", help=help),
                 *aliases)


def add_progress_option(parser: argparse.ArgumentParser, aliases: tuple[str, ...] = ()) -> None:
    """--no-progress: no progress bar, for logs and scripts (`aliases`: older spellings, hidden)."""
    hide_aliases(parser.add_argument("--no-progress", *aliases, action="store_true", help="no progress bar"), *aliases)


def add_fsync_option(parser: argparse.ArgumentParser) -> None:
    """--fsync: sync each output file to disk before it is renamed into place."""
    parser.add_argument("--fsync", action="store_true",
                        help="sync every output file to disk before it appears (survives a power cut; slower)")


def add_picture_options(parser: argparse.ArgumentParser) -> None:
    """--cmap and --grayscale: how depth pictures are drawn."""
    from ..pictures import DEFAULT_CMAP

    parser.add_argument("--cmap", type=colormap_name, default=DEFAULT_CMAP,
                        help="any matplotlib colour map (default %(default)s, near = warm)")
    parser.add_argument("--grayscale", action="store_true", help="grey depth pictures (white = near) instead of the colour map")


def add_camera_options(parser: argparse.ArgumentParser) -> None:
    """--fov DEG | --focal PX: the camera of images whose EXIF gives no focal length (one or the other);
    --no-exif: that camera for every image, whatever its EXIF says."""
    from ..geometry import DEFAULT_FOV_DEG

    camera = parser.add_mutually_exclusive_group()
    camera.add_argument("--fov", type=POSITIVE, default=None, metavar="DEG",
                        help=f"horizontal field of view in degrees (default {DEFAULT_FOV_DEG:g})")
    camera.add_argument("--focal", type=POSITIVE, default=None, metavar="PX",
                        help="focal length in pixels (instead of --fov)")
    parser.add_argument("--no-exif", action="store_true",
                        help="ignore the focal lengths in the photos' EXIF: --focal, --fov or the default for every image")


def add_pred_only_option(parser: argparse.ArgumentParser | Any) -> None:
    """--pred-only: the depth picture alone, not the input beside it."""
    parser.add_argument("--pred-only", action="store_true", help="depth picture only (no side by side with the input)")


def add_inference_options(
    parser: argparse.ArgumentParser,
    device_default: str = "best available; built-in models under --backend auto: the CPU",
) -> None:
    """--input-size, --batch-size, --device, --dtype: how the shared `Predictor` runs."""
    parser.add_argument(
        "--input-size", type=IntAtLeast(1), default=None,
        help="network input size: its shorter side, rounded to a multiple of the patch size "
        "(default: the size stored with the weights, 518 for the published ones)",
    )
    parser.add_argument("--batch-size", type=IntAtLeast(1), default=4, help="images per forward pass (default %(default)s)")
    parser.add_argument("--device", default=None, help=f"cuda, mps or cpu (default: {device_default})")
    parser.add_argument("--dtype", default=None, help="fp32 (default), fp16 or bf16")


def add_model_option(parser: argparse.ArgumentParser, default: str = "the small built-in model",
                     files: str = "a checkpoint, or an exported .onnx/.xml with --backend") -> None:
    """--model NAME|FILE: which weights a command runs (`default`: which model runs without it)."""
    parser.add_argument(
        "--model", default=None,
        help=f"model name or file (default: {default}; names: vits, vitl, metric-hypersim-vitl, ...; files: {files})",
    )


def add_model_options(parser: argparse.ArgumentParser, default: str = "the small built-in model",
                      device_default: str | None = None) -> None:
    """--model and --backend, plus the inference options: which weights run, and where (`default`
    says which model runs without --model)."""
    from ..inference.runtimes import BACKENDS
    from ..loading import AUTO

    add_model_option(parser, default)
    parser.add_argument("--backend", default=AUTO, choices=(AUTO, *BACKENDS),
                        help="runtime: auto (default: the fastest that gives PyTorch's result. On the CPU in fp32 a "
                        "built-in model runs its shipped ONNX graph on onnxruntime without importing torch, and any "
                        "other checkpoint is compiled once for openvino (else onnxruntime), cached by its weights' "
                        "digest and reused; DEPTH_ANYTHING_COMPILE=off keeps it on torch. An exported .onnx/.xml file "
                        "runs on onnxruntime/openvino; GPUs, fp16/bf16 and video models run on torch), torch, or "
                        "onnxruntime/openvino (an exported file, a built-in model, or a checkpoint compiled once) "
                        "(OpenVINO infers in f32 unless --dtype fp16/bf16; its CPU default may be bf16)")
    if device_default is None:
        add_inference_options(parser)
    else:
        add_inference_options(parser, device_default)


def add_random_weights_option(parser: argparse.ArgumentParser) -> None:
    """--random-weights ENCODER: an untrained network, to try a command without any weights file."""
    parser.add_argument(
        "--random-weights", metavar="ENCODER",
        help="UNTRAINED network of a registered size (vits, vitb, vitl, vitg, vitc), only to try the pipeline: "
        "its output is NOT depth",
    )


# ------------------------------------------------------------------------------------ opening models
def random_weights_asked(args: argparse.Namespace) -> str | None:
    """The encoder of --random-weights, if given (then --model may not be), announced on stderr."""
    from ..errors import ConfigError

    encoder = getattr(args, "random_weights", None)
    if not encoder:
        return None
    if args.model is not None:
        raise ConfigError("--model and --random-weights exclude each other")
    print(f"WARNING: --random-weights {encoder}: an UNTRAINED network, its output is not depth", file=sys.stderr)
    return encoder


def open_predictor_from_args(
    args: argparse.Namespace, default_model: str | None = None, download: str = "vits", tiling: Tiling | None = None,
    device: str | None = None, batch_size: int | None = None,
) -> Predictor:
    """The `Predictor` that --model/--backend/--device/--dtype/--input-size/--batch-size (and
    --random-weights, where a command has it) ask for: the one way every command opens a model.

    `default_model` runs without --model; `device` and `batch_size` override the flags (a command that
    picks the device itself, such as a torchrun rank, or runs one image at a time); `tiling` tiles it.
    A missing built-in model says how to get one (--model `download`, a published model that is
    downloaded, or a checkpoint path)."""
    from ..errors import WeightsNotFoundError
    from ..inference import Predictor
    from ..loading import open_predictor
    from ..weights.registry import DEFAULT_MODEL

    device = device if device is not None else getattr(args, "device", None)
    dtype, input_size = getattr(args, "dtype", None), getattr(args, "input_size", None)
    batch_size = batch_size if batch_size is not None else getattr(args, "batch_size", 4)
    encoder = random_weights_asked(args)
    if encoder:
        from ..models import build_model
        from ..runtime import resolve_device

        return Predictor(build_model(encoder), resolve_device(device), dtype, input_size, batch_size, tiling=tiling)
    try:
        return open_predictor(args.model or default_model or DEFAULT_MODEL, getattr(args, "backend", "auto"), device,
                              dtype, input_size, batch_size, report=lambda text: print(text, file=sys.stderr),
                              tiling=tiling)
    except WeightsNotFoundError as exc:
        if args.model is not None:
            raise
        raise WeightsNotFoundError(
            f"no built-in model in this install ({exc}); pass --model {download} (downloads a published model) "
            "or --model with a checkpoint path"
        ) from None


def model_label(args: argparse.Namespace, default_model: str | None = None) -> str:
    """The name of the model that --model/--random-weights ask for, as output files record it."""
    from ..weights.registry import DEFAULT_MODEL

    encoder = getattr(args, "random_weights", None)
    if encoder:
        return f"random-weights:{encoder}"
    return str(getattr(args, "model", None) or default_model or DEFAULT_MODEL)


def load_model_from_args(args: argparse.Namespace, device: str = "cpu", dtype: str | None = None) -> tuple[Any, str]:
    """The torch network that --model (or --random-weights) names, in eval mode, in `dtype` (None: float32),
    and a label for it (for commands that need the network itself, such as export and video's VDA)."""
    from ..weights.registry import DEFAULT_MODEL

    encoder = random_weights_asked(args)
    if encoder:
        from ..models import build_model
        from ..runtime import resolve_dtype

        return build_model(encoder).eval().to(device=device, dtype=resolve_dtype(dtype)), f"random-weights:{encoder}"
    from ..weights import load_model

    name = args.model or DEFAULT_MODEL
    return load_model(name, device=device, dtype=dtype), str(name)


# ------------------------------------------------------------------------------------------ messages
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
