"""`pdlogkit activity` and `pdlogkit trim`: find the periods of activity in a log, keep only them."""

from __future__ import annotations

import argparse

from .. import ops
from ..activity import POST_ROLL, PRE_ROLL
from ..events import KINDS
from ..reports import ActivityReport, TrimReport
from .common import OK, fmt_bytes, fmt_duration, log_argument, print_json, roll_seconds
from .logs import _output_options, _size, _with_progress, _write_options


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add activity and trim."""
    p = subparsers.add_parser(
        "activity",
        help="the periods of activity in a log: start, end, duration, electrodes moved",
        description="List the periods of activity of a log, each from --pre-roll before its first activity to "
        "--post-roll after its last (the periods trim keeps), and how much of the log they cover. Activity is an "
        "electrode move unless --activity names kinds; markers count too.",
    )
    p.add_argument("log", metavar="LOG", help="a log file, or - for a log streamed to stdin")
    _activity_options(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_activity)

    p = subparsers.add_parser(
        "trim",
        help="keep only the periods of activity of a log (or, with --frames-only, only their camera frames)",
        description="Write to OUT the periods of activity of IN, each from --pre-roll before its first activity to "
        "--post-roll after its last; with --frames-only every event but the camera frames outside them. The same "
        "decisions as `record --frames activity` / `--segments activity` make live. OUT appears only once complete.",
    )
    p.add_argument("src", metavar="IN")
    p.add_argument("dst", metavar="OUT")
    _activity_options(p)
    p.add_argument("--frames-only", action="store_true", help="keep every sensor event; cut only camera frames")
    _output_options(p)
    p.set_defaults(func=_trim)


def _activity_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pre-roll",
        type=roll_seconds,
        default=PRE_ROLL,
        metavar="S",
        help=f"seconds before activity (default {PRE_ROLL:g})",
    )
    p.add_argument(
        "--post-roll",
        type=roll_seconds,
        default=POST_ROLL,
        metavar="S",
        help=f"seconds after the last activity (default {POST_ROLL:g})",
    )
    p.add_argument(
        "--activity",
        nargs="+",
        choices=KINDS,
        metavar="KIND",
        help="every event of these kinds is activity (default: electrode moves)",
    )


def _electrodes(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:12])
    return shown + (f", ... ({len(numbers)})" if len(numbers) > 12 else "") if numbers else "-"


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 60 else f"{value:.0f} s ({fmt_duration(value)})"


def _activity(args: argparse.Namespace) -> int:
    report: ActivityReport = ops.find_activity(
        log_argument(args.log), pre_roll=args.pre_roll, post_roll=args.post_roll, activity=args.activity
    )
    if args.json:
        print_json(report.to_dict())
        return OK
    print(
        f"{report.path}: {len(report.periods)} period(s) of activity covering {_seconds(report.covered)} "
        f"of {_seconds(report.duration)} ({report.fraction:.1%}); activity: {report.activity}"
    )
    if report.periods:
        print(f"{'#':>3}  {'start s':>9}  {'end s':>9}  {'duration':>8}  {'moves':>5}  electrodes")
    for n, period in enumerate(report.periods, start=1):
        print(
            f"{n:>3}  {period.start:>9.1f}  {period.end:>9.1f}  {period.duration:>7.1f}s  {period.activities:>5}  "
            f"{_electrodes(period.electrodes)}"
        )
    return OK


def _trim(args: argparse.Namespace) -> int:
    report: TrimReport = _with_progress(
        "trim",
        _size(args.src) if args.src != "-" else None,
        lambda p: ops.trim_log(
            log_argument(args.src),
            args.dst,
            pre_roll=args.pre_roll,
            post_roll=args.post_roll,
            frames_only=args.frames_only,
            activity=args.activity,
            progress=p,
            **_write_options(args),
        ),
    )
    if args.json:
        print_json(report.to_dict())
        return OK
    kept = sum(p.duration for p in report.periods)
    print(
        f"{report.output}: {report.events} events kept ({report.frames_kept} frames) in {len(report.periods)} "
        f"period(s) of activity, {_seconds(kept)}; {report.format}, {fmt_bytes(report.bytes_out)}"
    )
    print(
        f"cut: {report.events_cut} events ({report.frames_cut} frames), {fmt_bytes(report.bytes_cut)}"
        + (f"; markers kept: {report.markers}" if report.markers else "")
    )
    return OK
