"""Argument types and option groups that several subcommands share (one definition each)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


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


def add_inference_options(parser: argparse.ArgumentParser, device_help: str = "cuda, mps or cpu (default: best available)") -> None:
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
    parser.add_argument(
        "--model", default=None,
        help=model_help or "model name (default: the small built-in model; vits, vitl, metric-hypersim-vitl, ...), "
        "checkpoint path, or an exported file with --backend",
    )
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime", "openvino"),
                        help="runtime: torch (default) or an exported model's onnxruntime/openvino")
    add_inference_options(parser)
