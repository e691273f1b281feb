"""`pdlogkit plot`: the timeline figure of a log (PNG, SVG or PDF)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from ..plot import PLOT_KINDS, save_timeline
from .common import USAGE, fmt_bytes, number_from, print_json, reports_truncation, time_bound

_inches = number_from(1, 200, "inches")
_dpi = number_from(10, 1200, "dots per inch")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `plot`."""
    p = subparsers.add_parser(
        "plot",
        help="draw the timeline figure of a log: electrodes, capacitance, voltage, temperatures, markers",
        description="Draw one figure of a log, panels sharing the time axis: the electrode activations, scan "
        "capacitance as a heatmap, active and group capacitance, the high voltage with its target, the "
        "temperatures with the heaters' duty cycles; markers as labelled lines, recording gaps shaded. Panels "
        "for kinds the log lacks are left out; a container's camera frames are never read. Needs matplotlib "
        "(pip install 'pdlogkit[plot]').",
    )
    p.add_argument("log", metavar="LOG", help="the log to read")
    p.add_argument("-o", "--out", metavar="OUT", required=True, help="the figure to write: .png, .svg or .pdf")
    p.add_argument("--start", type=time_bound, metavar="S", help="begin S seconds after the log's start")
    p.add_argument("--end", type=time_bound, metavar="S", help="end S seconds after the log's start")
    p.add_argument(
        "--kinds", nargs="+", choices=PLOT_KINDS, metavar="KIND", help=f"only these panels ({', '.join(PLOT_KINDS)})"
    )
    p.add_argument("--width", type=_inches, default=12.0, metavar="IN", help="figure width in inches (default 12)")
    p.add_argument("--height", type=_inches, metavar="IN", help="figure height in inches (default: by the panels)")
    p.add_argument("--dpi", type=_dpi, default=100.0, metavar="N", help="PNG dots per inch (default 100)")
    p.add_argument("--clock", action="store_true", help="time axis in wall-clock time instead of seconds")
    p.add_argument("--local-time", action="store_true", help="wall-clock time and title in local time, not UTC")
    p.add_argument(
        "--no-activity", action="store_true", help="do not shade the periods of activity (as pdlogkit activity finds)"
    )
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=_plot)


@reports_truncation
def _plot(args: argparse.Namespace) -> int:
    timezone = dt.datetime.now().astimezone().tzinfo if args.local_time else None
    try:
        summary = save_timeline(
            args.log,
            args.out,
            overwrite=args.force,
            start=args.start,
            end=args.end,
            kinds=args.kinds,
            clock=args.clock,
            timezone=timezone,
            width=args.width,
            height=args.height,
            dpi=args.dpi,
            activity=not args.no_activity,
        )
    except ImportError as exc:  # the plot extra is not installed: a feature not available
        print(f"pdlogkit: {exc}", file=sys.stderr)
        return USAGE
    if summary.truncation:
        print(f"pdlogkit: warning: {summary.truncation}", file=sys.stderr)
    if args.json:
        print_json(summary.to_dict())
    else:
        counts = {"markers": summary.markers, "periods of activity": summary.activity, "gaps": summary.gaps}
        more = "".join(f", {n} {what}" for what, n in counts.items() if n)
        print(
            f"{summary.path}: {summary.width}x{summary.height} {summary.format}, {fmt_bytes(summary.size)}; "
            f"panels: {', '.join(summary.panels)}{more}"
        )
    return 0
