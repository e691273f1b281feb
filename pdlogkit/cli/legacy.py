"""The original command names, `pdrecord` and `pdlog`, with their original interfaces."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .common import USAGE


def pdlog_main(argv: Sequence[str] | None = None) -> int:
    """`pdlog --video OUT.mp4 LOGFILE`: write a log's camera frames to an MP4."""
    parser = argparse.ArgumentParser(prog="pdlog", description="Work with PurpleDrop event logs.")
    parser.add_argument("--video", metavar="OUT.mp4", required=True, help="write the log's camera frames to this MP4")
    parser.add_argument("logfile", metavar="LOGFILE")
    parser.parse_args(argv)
    print("pdlog: video extraction is not available yet in this version of pdlogkit", file=sys.stderr)
    return USAGE


def pdrecord_main(argv: Sequence[str] | None = None) -> int:
    """`pdrecord [--host ws://localhost:7001] [-v] FILENAME`: record until interrupted."""
    print("pdrecord: not available yet", file=sys.stderr)
    return USAGE
