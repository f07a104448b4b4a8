"""Start the web demo: upload an image, see its depth on a slider, download the depth PNGs.

Serves on 127.0.0.1 (this machine only) unless --host says otherwise; no public share link, no
analytics. The model list holds the built-in `default` and `default-metric` plus --model; each is
opened the first time it is chosen.

Examples:
  depth-anything app                                  # the small built-in model, http://127.0.0.1:7860
  depth-anything app --model vitl                     # the official large model (downloaded once)
  depth-anything app --model runs/demo/teacher/model.pt --port 8080
  depth-anything app --host 0.0.0.0 --model vits      # reachable from other machines on the network
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .options import HelpFormatter, IntAtLeast, add_model_options, library_messages


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything app`."""
    parser.formatter_class = HelpFormatter
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for every interface)")
    parser.add_argument("--port", type=IntAtLeast(1), default=7860, help="port (default %(default)s)")
    add_model_options(parser, default="the built-in models only; a model given joins their list and is "
                      "selected at start")
    parser.add_argument("--concurrency", type=IntAtLeast(1), default=1,
                        help="requests computed at the same time (default %(default)s; others wait in the queue)")


def run(args: argparse.Namespace) -> int:
    from ..app import demo as app_demo  # MissingExtraError (naming the extra) without gradio
    from ..app.processing import BUILTIN_MODELS, ModelChooser, model_sources
    from .options import open_predictor_from_args

    def opener(model: str, **settings: Any):
        """Each model of the list, opened as every command opens one (`open_predictor_from_args`)."""
        return open_predictor_from_args(argparse.Namespace(model=model, **settings))

    with library_messages("app"):
        chooser = ModelChooser(model_sources(args.model, args.backend), device=args.device, dtype=args.dtype,
                               input_size=args.input_size, opener=opener)
        # the model asked for first, then the built-in ones; each failure is logged as a warning
        order = ([args.model] if args.model else []) + [name for name in BUILTIN_MODELS if name != args.model]
        initial, failures = chooser.first_available(order)
        if initial is None:
            print("depth-anything app: error: no model could be opened; the page says so and computes nothing. "
                  "Pass --model with a name (vits, vitl, ...) or a checkpoint file.", file=sys.stderr)
        demo = app_demo.build_demo(chooser, initial_model=initial, notice=app_demo.startup_notice(initial, failures))
        try:
            # quiet: Gradio's own banner suggests share=True, which this command does not offer
            url = app_demo.launch_demo(demo, args.host, args.port, block=False, quiet=True, concurrency=args.concurrency)
        except OSError as exc:  # the port is taken, the address is not this machine's, ...
            print(f"depth-anything app: error: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 2
        try:
            print(f"depth-anything app: serving on {url} (Ctrl+C to stop)", file=sys.stderr, flush=True)
            demo.block_thread()  # until Ctrl+C
        except KeyboardInterrupt:
            pass
        finally:
            demo.close()
    return 0
