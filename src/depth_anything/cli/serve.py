"""Serve depth over HTTP: models stay loaded, concurrent requests are batched, bad input is refused.

Listens on 127.0.0.1 (this machine only) unless --host says otherwise. Send an image as the body (or
as the multipart field `image`) to POST /v1/depth and get the depth back in the format asked for,
byte for byte what `depth-anything predict` writes for that image and model:

  curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg' \\
       'http://127.0.0.1:8000/v1/depth?format=png16' -o photo_depth16.png

Other endpoints: GET /v1/models, /healthz, /readyz, /metrics (Prometheus), /docs (OpenAPI).
Requests that arrive within --max-wait-ms and share a network input shape run as one batch of up to
--max-batch; when --max-queue requests are waiting, new ones get 503 with Retry-After. The bearer
token comes from --token or $DEPTH_ANYTHING_TOKEN. SIGTERM finishes the requests in flight, then exits.

Examples:
  depth-anything serve                                   # built-in model, http://127.0.0.1:8000
  depth-anything serve --model vits --extra-model default-metric --max-batch 16
  DEPTH_ANYTHING_TOKEN=s3cret depth-anything serve --host 0.0.0.0 --workers 2
  depth-anything serve --model vitl --device cuda --dtype fp16 --max-batch 8   # on a GPU
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from .options import (
    POSITIVE,
    FloatRange,
    HelpFormatter,
    IntAtLeast,
    add_model_options,
    add_random_weights_option,
    library_messages,
    random_weights_asked,
)

if TYPE_CHECKING:
    from ..serve.config import ServeConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything serve`."""
    from ..serve.config import DEFAULT_PORT, LOOPBACK, TOKEN_ENV, ServeConfig

    defaults = ServeConfig()
    parser.formatter_class = HelpFormatter
    parser.add_argument("--host", default=LOOPBACK,
                        help=f"address to listen on (default {LOOPBACK}: this machine only; 0.0.0.0 for every interface)")
    parser.add_argument("--port", type=IntAtLeast(1), default=DEFAULT_PORT, help="port (default %(default)s)")
    add_model_options(parser, default="the small built-in model; requests choose among loaded models with ?model=")
    parser.add_argument("--extra-model", action="append", default=[], metavar="NAME",
                        help="another model to keep loaded (repeat for more); requests pick it with ?model=NAME")
    add_random_weights_option(parser)
    parser.add_argument("--workers", type=IntAtLeast(1), default=1,
                        help="processes (servers sharing the port, each with its own models and its share of the "
                        "cores; default %(default)s)")
    parser.add_argument("--token", default=None,
                        help=f"bearer token that /v1 and /metrics require (default: ${TOKEN_ENV} if set, else none)")
    limits = parser.add_argument_group("batching and limits")
    limits.add_argument("--max-batch", type=IntAtLeast(1), default=defaults.max_batch,
                        help="most requests run together in one dynamic batch (default %(default)s)")
    limits.add_argument("--max-wait-ms", type=FloatRange(0.0), default=defaults.max_wait_ms,
                        help="how long a request waits for others of its shape before its batch runs "
                        "(default %(default)s)")
    limits.add_argument("--max-queue", type=IntAtLeast(1), default=defaults.max_queue,
                        help="most requests waiting for the model; more get 503 with Retry-After (default %(default)s)")
    limits.add_argument("--request-timeout", type=POSITIVE, default=defaults.request_timeout_s, metavar="SECONDS",
                        help="answer 504 when a request takes longer (default %(default)s)")
    limits.add_argument("--max-body-mb", type=POSITIVE, default=defaults.max_body_bytes / 2**20,
                        help="largest upload in MiB; larger gets 413 (default %(default)g)")
    limits.add_argument("--max-pixels", type=IntAtLeast(1), default=defaults.max_pixels,
                        help="largest decoded image in pixels; larger gets 413 (default %(default)s)")
    limits.add_argument("--max-input-size", type=IntAtLeast(1), default=defaults.max_input_size,
                        help="largest input_size a request may ask for (default %(default)s)")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"),
                        help="server log level (default %(default)s)")
    parser.add_argument("--access-log", action="store_true", help="log every request (costs throughput)")


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    """The `ServeConfig` the flags describe."""
    from ..errors import ConfigError
    from ..serve.config import TOKEN_ENV, ModelChoice, ServeConfig
    from ..weights.registry import DEFAULT_MODEL
    from ..weights.resolver import resolve

    encoder = random_weights_asked(args)
    if encoder:
        first = ModelChoice(f"random-weights:{encoder}", random_encoder=encoder)
    else:
        first = ModelChoice(args.model or DEFAULT_MODEL, args.model or DEFAULT_MODEL)
    models = [first, *(ModelChoice(name, name) for name in args.extra_model)]
    for choice in models:  # a misspelt name fails now, not in the background after the port is open
        if choice.model is not None and getattr(resolve(choice.model).entry, "video", False):
            raise ConfigError(f"--model {choice.model}: a video model predicts from frame sequences; serve image "
                              "models (depth-anything models lists them)")
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    if args.token is not None and not args.token.strip():
        raise ConfigError("--token is empty; give a token, or leave the flag out")
    return ServeConfig(
        models=tuple(models), backend=args.backend, device=args.device, dtype=args.dtype, input_size=args.input_size,
        batch_size=args.batch_size, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, max_queue=args.max_queue,
        request_timeout_s=args.request_timeout, max_body_bytes=int(args.max_body_mb * 2**20), max_pixels=args.max_pixels,
        max_input_size=args.max_input_size, token=token, host=args.host, port=args.port, workers=args.workers,
    )


def run(args: argparse.Namespace) -> int:
    """Check the flags, then serve until SIGTERM or Ctrl+C."""
    from ..serve.server import serve

    config = config_from_args(args)

    def listening(url: str) -> None:
        models = ", ".join(m.name for m in config.models)
        print(f"depth-anything serve: listening on {url} (models: {models}; workers: {args.workers}; "
              f"token: {'required' if config.token else 'none'})", flush=True)
        if args.host not in ("127.0.0.1", "::1", "localhost") and not config.token:
            print("depth-anything serve: warning: reachable from the network without a token "
                  "(--token or $DEPTH_ANYTHING_TOKEN)", file=sys.stderr, flush=True)

    with library_messages("serve"):
        serve(config, on_listening=listening, log_level=args.log_level, access_log=args.access_log)
    return 0
