"""Commands that work on log files: info, cat, convert, index, slice, merge, verify, recover."""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from .. import ops
from ..errors import TruncatedLogWarning
from ..events import KINDS
from ..files.indexed_writer import LEVEL
from ..log import FORMATS, open_log
from ..render import MARKER, event_dicts
from ..reports import RecoverReport, RecoverStatus, WriteReport
from .common import (
    BAD_INPUT,
    OK,
    PROBLEMS,
    USAGE,
    Progress,
    fmt_bytes,
    fmt_duration,
    log_argument,
    print_json,
    reports_truncation,
    time_bound,
)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add info, cat, convert, index, slice, merge, verify and recover."""
    p = subparsers.add_parser("info", help="what a log holds: time span, counts, rates, sizes, gaps")
    p.add_argument("log", metavar="LOG", help="a log file or URL (or a FIFO), or - for a log streamed to stdin")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_info)

    p = subparsers.add_parser(
        "cat",
        help="print events as JSON lines (time, kind, fields)",
        description="Print events as JSON lines: time (Unix seconds on the log's clock), kind, fields. "
        "Image bytes are shown as size and sha256 unless --with-images. The log's markers come among them "
        "in time order, as kind marker (with their text).",
    )
    p.add_argument("log", metavar="LOG", help="a log file or URL, or - to read a log streamed to stdin")
    _window_options(p, (*KINDS, MARKER))
    p.add_argument("--with-images", action="store_true", help="include image bytes (base64)")
    p.set_defaults(func=_cat)

    p = subparsers.add_parser(
        "convert",
        help="convert a log between classic and indexed container (either direction)",
        description="Copy every event of IN into OUT. The format comes from OUT's extension "
        "(.pdlz: indexed container, else classic) unless --format says. OUT appears only once complete.",
    )
    p.add_argument("src", metavar="IN", help="a log file or URL, or - for a log streamed to stdin")
    p.add_argument("dst", metavar="OUT")
    _output_options(p)
    p.set_defaults(func=_convert)

    p = subparsers.add_parser(
        "index",
        help="write a sidecar index next to a classic log (LOG.pdidx) for quick windows and summaries",
        description="Write a classic log's sidecar index beside it (LOG.pdidx), or with --out elsewhere: "
        "for a remote log, write it locally and put it beside the log.",
    )
    p.add_argument("log", metavar="LOG", help="a classic log file or URL")
    p.add_argument("--out", metavar="PATH", help="write the sidecar here (a file, or a folder) instead of beside LOG")
    p.add_argument("--force", action="store_true", help="replace a file at the output that is not a sidecar index")
    p.set_defaults(func=_index)

    p = subparsers.add_parser(
        "slice",
        help="write a time window and/or some kinds of a log to a new log",
        description="Write the events of IN in the window [--start, --end) and of --kinds to OUT. A window "
        "outside the log, or one without any such event, writes nothing (exit 1).",
    )
    p.add_argument("src", metavar="IN")
    p.add_argument("dst", metavar="OUT")
    _window_options(p)
    _output_options(p)
    p.set_defaults(func=_slice)

    p = subparsers.add_parser(
        "merge",
        help="merge logs into one, ordered by time: merge IN... -o OUT",
        description="Merge the events of every IN into OUT (-o), ordered by time on each log's clock.",
    )
    p.add_argument("sources", metavar="IN", nargs="+")
    p.add_argument("-o", "--output", metavar="OUT", help="the merged log to write (required)")
    _output_options(p)
    p.set_defaults(func=_merge)

    p = subparsers.add_parser(
        "verify",
        help="check a log: checksums, index, truncation, payloads, ordering, missing events",
        description="Check a log end to end. Exit 0 if sound, 1 if problems were found, 3 if it cannot be read "
        "or is not a log.",
    )
    p.add_argument("log", metavar="LOG")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_verify)

    p = subparsers.add_parser(
        "recover",
        help="save every readable event of a damaged log into a proper file",
        description="Save every readable event of IN (cut short, corrupt chunks, no index, zero padding) into "
        "OUT, which records what was lost. Exit 0: nothing lost; 1: some events lost; 3: nothing recoverable.",
    )
    p.add_argument("src", metavar="IN")
    p.add_argument("dst", metavar="OUT")
    _output_options(p)
    p.set_defaults(func=_recover)


def _window_options(p: argparse.ArgumentParser, kinds: tuple[str, ...] = KINDS) -> None:
    p.add_argument("--start", type=time_bound, metavar="T", help="seconds from the log's start, or ISO date-time")
    p.add_argument("--end", type=time_bound, metavar="T", help="end (exclusive), like --start")
    p.add_argument("--kinds", nargs="+", choices=kinds, metavar="KIND", help="only these kinds")


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, help="output format (default: from OUT's extension)")
    p.add_argument(
        "--level", type=_level, default=LEVEL, metavar="N", help="zstd level for containers (1-19; default 3)"
    )
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _level(text: str) -> int:
    try:
        level = int(text)
    except ValueError:
        level = 0
    if not 1 <= level <= 19:
        raise argparse.ArgumentTypeError(f"{text!r} is not a zstd level from 1 to 19")
    return level


def _size(*names: str) -> int | None:
    """Total size of the named regular files, for a progress bar (None if one is a stream)."""
    total = 0
    for name in names:
        try:
            st = os.stat(name)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        total += st.st_size
    return total


def _with_progress(label: str, total: int | None, work: Callable[[Callable[[int], None]], Any]) -> Any:
    with Progress(total, label) as bar:
        return work(bar.update)


# ---------------------------------------------------------------- commands


@reports_truncation
def _info(args: argparse.Namespace) -> int:
    with open_log(log_argument(args.log)) as log:
        summary = log.summary()
        markers = log.markers()
    if args.json:
        print_json({**summary.to_dict(), "markers": [m.to_dict() for m in markers]})
        return OK
    rows = [
        ("file", f"{summary.path} ({summary.format}, {fmt_bytes(summary.file_size)})"),
        ("start", summary.start.isoformat() if summary.start else "-"),
        ("end", summary.end.isoformat() if summary.end else "-"),
        ("duration", fmt_duration(summary.duration)),
        ("events", str(summary.events)),
        ("times from", summary.time_source),
        ("figures from", summary.source),
        ("compression", f"{summary.compression_ratio:.2f}x vs classic ({fmt_bytes(summary.classic_size)})"),
    ]
    if summary.chunks:
        rows.append(("chunks", str(summary.chunks)))
    for key in ("source", "recorder", "notes"):
        if key in summary.metadata:
            rows.append((key, str(summary.metadata[key])))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print()
    print(f"{'kind':<20} {'events':>9} {'per s':>8} {'bytes':>10}")
    rates = summary.rates
    for kind, count in summary.counts.items():
        print(f"{kind:<20} {count:>9} {rates[kind]:>8.2f} {fmt_bytes(summary.sizes[kind]):>10}")
    for a, b in summary.gaps:
        print(f"gap: no events from {a:.1f} s to {b:.1f} s")
    for marker in markers:
        at = (marker.time_ns - summary.start_ns) / 1e9 if summary.start_ns is not None else marker.time
        print(f"marker: {at:.3f} s  {marker.text}  {json.dumps(marker.fields) if marker.fields else ''}".rstrip())
    if summary.truncation:
        print(f"truncated: {summary.truncation}")
    for problem in summary.problems:
        print(f"problem: {problem}")
    return OK


@reports_truncation
def _cat(args: argparse.Namespace) -> int:
    # A truncation or damage goes to stderr, one line each, after the events: stdout stays JSON lines.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncatedLogWarning)
        with open_log(log_argument(args.log)) as log:
            _print_lines(
                event_dicts(log, kinds=args.kinds, start=args.start, end=args.end, with_images=args.with_images)
            )
            problems = [str(d) for d in log.problems]
    for line in [str(w.message) for w in caught if issubclass(w.category, TruncatedLogWarning)] + problems:
        print(f"warning: {line}", file=sys.stderr)
    return OK


def _print_lines(items: Iterable[dict[str, Any]]) -> None:
    out = sys.stdout
    try:
        for item in items:
            out.write(json.dumps(item, separators=(",", ":")))
            out.write("\n")
        out.flush()
    except BrokenPipeError:  # `| head`: the reader has all it wants
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _print_write(report: WriteReport, as_json: bool) -> None:
    if as_json:
        print_json(report.to_dict())
        return
    rate = f" ({fmt_bytes(report.rate)}/s)" if report.bytes_in else ""
    print(f"{report.output}: {report.events} events, {report.format}, {fmt_bytes(report.bytes_out)}{rate}")
    for note in report.notes:
        print(f"note: {note}")


def _write_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"format": args.format, "level": args.level, "overwrite": args.force}


@reports_truncation
def _convert(args: argparse.Namespace) -> int:
    report = _with_progress(
        "convert",
        _size(args.src) if args.src != "-" else None,
        lambda p: ops.convert(log_argument(args.src), args.dst, progress=p, **_write_options(args)),
    )
    _print_write(report, args.json)
    return OK


def _index(args: argparse.Namespace) -> int:
    path = _with_progress(
        "index", _size(args.log), lambda p: ops.index_log(args.log, out=args.out, overwrite=args.force, progress=p)
    )
    print(f"{args.log}: has an index of its own (a container)" if path is None else f"wrote {path}")
    return OK


@reports_truncation
def _slice(args: argparse.Namespace) -> int:
    report = _with_progress(
        "slice",
        _size(args.src),
        lambda p: ops.slice_log(
            args.src, args.dst, start=args.start, end=args.end, kinds=args.kinds, progress=p, **_write_options(args)
        ),
    )
    _print_write(report, args.json)
    return OK


@reports_truncation
def _merge(args: argparse.Namespace) -> int:
    if args.output is None:
        print(
            "pdlogkit merge: give the output with -o: pdlogkit merge IN... -o OUT "
            "(the first argument is no longer taken as the output)",
            file=sys.stderr,
        )
        return USAGE
    report = _with_progress(
        "merge",
        _size(*args.sources),
        lambda p: ops.merge_logs(args.output, args.sources, progress=p, **_write_options(args)),
    )
    _print_write(report, args.json)
    return OK


@reports_truncation
def _verify(args: argparse.Namespace) -> int:
    report = _with_progress("verify", _size(args.log), lambda p: ops.verify_log(log_argument(args.log), progress=p))
    if args.json:
        print_json(report.to_dict())
    else:
        verdict = "OK" if report.ok else f"{len(report.problems)} problem(s)"
        chunks = f", {report.chunks} chunks" if report.chunks else ""
        print(f"{report.path}: {verdict} ({report.format}, {report.events} events{chunks})")
        for problem in report.problems:
            print(f"problem: {problem}")
        for warning in report.warnings:
            print(f"warning: {warning}")
    return OK if report.ok else PROBLEMS


@reports_truncation
def _recover(args: argparse.Namespace) -> int:
    report: RecoverReport = _with_progress(
        "recover",
        _size(args.src),
        lambda p: ops.recover_log(args.src, args.dst, progress=p, **_write_options(args)),
    )
    if args.json:
        print_json(report.to_dict())
    else:
        saved = f"{report.events} events saved ({report.format})" if report.bytes_out else "nothing written"
        print(f"{report.output}: {report.status.value}; {saved}")
        for item in report.lost:
            print(f"lost: {item}")
    return {RecoverStatus.NOTHING_LOST: OK, RecoverStatus.SOME_LOST: PROBLEMS}.get(report.status, BAD_INPUT)
