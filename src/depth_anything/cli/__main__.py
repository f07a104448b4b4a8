"""`depth-anything SUBCOMMAND ...`: dispatch to the module of each subcommand.

Each module in `SUBCOMMANDS` defines `add_arguments(parser)` and `run(args) -> int`, and its
docstring's first line is the subcommand's help. Modules are imported only when listed for help or
run, so `depth-anything predict` does not pay for importing the training code (start-up time).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import DepthAnythingError
from .messages import to_flags
from .options import HelpFormatter

SUBCOMMANDS: dict[str, str] = {
    "predict": "depth_anything.cli.predict",
    "synth": "depth_anything.cli.synth",
    "contact-sheet": "depth_anything.cli.sheet",
    "train": "depth_anything.cli.train",
    "label": "depth_anything.cli.label",
    "eval": "depth_anything.cli.eval",
    "export": "depth_anything.cli.export",
    "video": "depth_anything.cli.video",
    "pointcloud": "depth_anything.cli.pointcloud",
    "mesh": "depth_anything.cli.mesh",
    "app": "depth_anything.cli.app",
    "models": "depth_anything.cli.models",
    "sample-photos": "depth_anything.cli.sample_photos",
    "serve": "depth_anything.cli.serve",
    "info": "depth_anything.cli.info",
    "convert": "depth_anything.cli.convert",
    "oak": "depth_anything.cli.oak",
}


# batch inference: one large forward pass after another, where glibc's unmapping of freed blocks costs
KEEP_FREED_MEMORY = frozenset({"predict", "video", "eval", "pointcloud", "mesh", "label"})


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand; with `only`, just that subcommand's flags are defined (the
    others stay bare names), so running one command imports only its own module."""
    parser = argparse.ArgumentParser(prog="depth-anything", description="Depth Anything V2 toolkit.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in SUBCOMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name)
            continue
        module = importlib.import_module(module_name)
        help_line = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else None
        module.add_arguments(sub.add_parser(name, help=help_line, description=module.__doc__, formatter_class=HelpFormatter))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `depth-anything` command.

    Called as the process's own entry point (no `argv`: the console script, `python -m`), the batch
    inference commands (`KEEP_FREED_MEMORY`) also set the process-wide allocator policy
    `runtime.keep_freed_memory`; the server, training and data commands keep glibc's default, and called
    with arguments (tests, other programs) it leaves the host process's allocator alone.
    """
    entry_point = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(first if first in SUBCOMMANDS else None).parse_args(argv)
    if entry_point and args.command in KEEP_FREED_MEMORY:
        from ..runtime import keep_freed_memory

        keep_freed_memory()
    module = importlib.import_module(SUBCOMMANDS[args.command])
    try:
        return int(module.run(args) or 0)
    except DepthAnythingError as exc:
        print(f"depth-anything {args.command}: error: {to_flags(str(exc), args.command)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
