"""The `pdlogkit` command: a thin skin over the library, one module per command."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from .. import __version__
from ..errors import GatewayUnreachable, LogFormatError, PdlogkitError
from .common import BAD_INPUT, INTERRUPTED, PROBLEMS, UNREACHABLE, USAGE

# Each module registers its subcommands with `register(subparsers)`.
COMMAND_MODULES = ("demo", "record", "logs", "replay", "video")


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


def run(func, args: argparse.Namespace, prog: str = "pdlogkit") -> int:  # type: ignore[no-untyped-def]
    """Call a command, turning pdlogkit errors into a one-line message and an exit code."""
    warnings.simplefilter("ignore")  # truncation and the like are reported by the commands themselves
    try:
        return int(func(args) or 0)
    except GatewayUnreachable as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return UNREACHABLE
    except LogFormatError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return BAD_INPUT
    except PdlogkitError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return PROBLEMS
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prog}: {where}{exc.strerror or exc}", file=sys.stderr)
        return BAD_INPUT
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pdlogkit` console script."""
    args = build_parser().parse_args(argv)
    return run(args.func, args)
