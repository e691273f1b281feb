"""Video commands (work in progress)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .common import USAGE


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands."""


def pdlog_main(argv: Sequence[str] | None = None) -> int:
    """`pdlog --video OUT.mp4 LOGFILE`: the original tool's interface."""
    parser = argparse.ArgumentParser(prog="pdlog", description="Work with PurpleDrop event logs.")
    parser.add_argument("--video", metavar="OUT.mp4", required=True, help="write the log's camera frames to this MP4")
    parser.add_argument("logfile", metavar="LOGFILE")
    parser.parse_args(argv)
    print("pdlog: video extraction is not available yet in this version of pdlogkit", file=sys.stderr)
    return USAGE
