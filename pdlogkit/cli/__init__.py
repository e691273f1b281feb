"""The `pdlogkit` command: a thin skin over the library, one module per command."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from .. import __version__
from .common import run

# Each module registers its subcommands with `register(subparsers)`.
COMMAND_MODULES = ("demo", "record", "logs", "activity", "export", "replay", "view", "video", "plot", "batch")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `pdlogkit` and all its subcommands."""
    parser = argparse.ArgumentParser(
        prog="pdlogkit",
        description="Record, inspect, convert, replay and turn into video PurpleDrop event logs.",
    )
    parser.add_argument("--version", action="version", version=f"pdlogkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pdlogkit` console script."""
    args = build_parser().parse_args(argv)
    return run(args.func, args)
