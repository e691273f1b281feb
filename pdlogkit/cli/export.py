"""`pdlogkit export`: a log's tables as Parquet or CSV, or the log as MCAP for Foxglove."""

from __future__ import annotations

import argparse
import os
import sys

from ..events import KINDS
from ..files.output import open_output, refuse_inputs
from .common import OK, Progress, fmt_bytes, log_argument, print_json, reports_truncation, time_bound

_TABLES = (*KINDS, "activations", "markers")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `export`."""
    p = subparsers.add_parser(
        "export",
        help="a log's tables as Parquet/CSV (one file per table), or the log as MCAP for Foxglove",
        description="Export LOG to OUT. OUT ending in .mcap: every event as MCAP (Foxglove opens it; camera frames "
        "on /camera/image). Ending in .parquet or .csv: the one table --kinds names. Anything else: a folder with "
        "one file per table (scan_capacitance.parquet, ...). OUT appears only once complete.",
    )
    p.add_argument("log", metavar="LOG", help="a log file of any format (or - for a log streamed to stdin)")
    p.add_argument("out", metavar="OUT", help="a folder, a .parquet/.csv file, or a .mcap file")
    p.add_argument(
        "--kinds", nargs="+", choices=_TABLES, metavar="TABLE", help="only these tables (kinds, activations, markers)"
    )
    p.add_argument("--start", type=time_bound, metavar="T", help="seconds from the log's start, or ISO date-time")
    p.add_argument("--end", type=time_bound, metavar="T", help="end (exclusive), like --start")
    p.add_argument("--format", choices=("parquet", "csv", "mcap"), help="default: from OUT (.mcap, .csv), else parquet")
    p.add_argument("--layout", metavar="FILE", help="also write the Foxglove layout (camera, capacitance, HV) to FILE")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_export)


@reports_truncation
def _export(args: argparse.Namespace) -> int:
    from ..export import export_log
    from ..export.foxglove import layout_path

    source = log_argument(args.log)
    if args.layout:
        if os.path.realpath(args.layout) == os.path.realpath(args.out):
            raise ValueError(f"--layout {args.layout} is the export's output; choose another file")
        refuse_inputs(args.layout, [source])
    # The layout's output is claimed first: an existing file there stops the export before it begins.
    layout = open_output(args.layout, overwrite=args.force) if args.layout else None
    try:
        with Progress(None, "export", unit="events") as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done)

            report = export_log(
                source,
                args.out,
                kinds=args.kinds,
                start=args.start,
                end=args.end,
                format=args.format,
                overwrite=args.force,
                progress=progress,
            )
        if layout is not None:
            with open(layout_path(), "rb") as f:
                layout.write(f.read())
            layout.commit()
    except BaseException:
        if layout is not None:
            layout.abort()
        raise
    if args.json:
        print_json(report.to_dict())
        return OK
    what = "messages" if report.format == "mcap" else "rows"
    for name, count in report.tables.items():
        print(f"{name:<32} {count:>10} {what}")
    print(
        f"{report.output}: {report.format}, {len(report.files)} file(s), {fmt_bytes(report.bytes_out)}, "
        f"{report.events} events in {report.seconds:.1f} s"
    )
    for note in report.notes:
        print(f"warning: {note}", file=sys.stderr)
    if report.format == "mcap" and not args.layout:
        print(f"Foxglove: open {report.output}, then Layouts > Import from file: {layout_path()}")
    return OK
