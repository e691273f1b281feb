"""`pdlogkit record` and the original `pdrecord`: record a gateway's stream to a log."""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from ..activity import POST_ROLL, PRE_ROLL
from ..events import KINDS, Event
from ..markers import Marker
from ..record import DEFAULT_URI, FRAMES, RecorderStatus, SegmentSummary, record_session
from ..record.markers import parse_marker_line
from .common import (
    StatusLine,
    fmt_bytes,
    fmt_duration,
    megabytes,
    positive_seconds,
    print_json,
    roll_seconds,
    run,
    seconds,
)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `record`."""
    p = subparsers.add_parser(
        "record",
        help="record a gateway's event stream to a log",
        description="Record a gateway's event stream until Ctrl-C/SIGTERM or --duration. "
        "The format comes from OUT's extension (.pdlz: indexed container, else classic) unless --format says. "
        "On a terminal, a line typed and Enter adds a marker: TEXT, optionally followed by a JSON object of fields.",
    )
    p.add_argument("uri", metavar="URI", help=f"the gateway's websocket, e.g. {DEFAULT_URI}")
    p.add_argument("out", metavar="OUT", help="the log file to write (with --segments: a pattern such as run-{n}.pdlz)")
    p.add_argument("--duration", type=positive_seconds, metavar="S", help="stop after S seconds")
    p.add_argument("--include", nargs="+", choices=KINDS, metavar="KIND", help="record only these kinds")
    p.add_argument("--exclude", nargs="+", choices=KINDS, metavar="KIND", help="do not record these kinds")
    p.add_argument(
        "--frames",
        choices=FRAMES,
        default="all",
        help="activity: keep camera frames only from --pre-roll before activity to --post-roll after it "
        "(every other event is kept); default all",
    )
    p.add_argument(
        "--segments",
        choices=("activity",),
        help="activity: a file for each burst of activity (OUT numbers them with {n}), from --pre-roll before "
        "it to --post-roll after it",
    )
    p.add_argument(
        "--pre-roll",
        type=roll_seconds,
        metavar="S",
        help=f"with --frames/--segments activity: seconds kept before activity (default {PRE_ROLL:g}); otherwise: "
        "keep the last S seconds in memory and start recording, with them first, on Enter (on a terminal) or SIGUSR1",
    )
    p.add_argument(
        "--post-roll",
        type=roll_seconds,
        metavar="S",
        help=f"seconds kept after the last activity (default {POST_ROLL:g})",
    )
    p.add_argument(
        "--activity",
        nargs="+",
        choices=KINDS,
        metavar="KIND",
        help="what counts as activity: every event of these kinds (default: electrode moves)",
    )
    p.add_argument(
        "--max-segment",
        type=positive_seconds,
        metavar="S",
        help="with --segments: at most S seconds per file",
    )
    p.add_argument("--split-size", type=megabytes, metavar="MB", help="start a new file every MB megabytes")
    p.add_argument("--split-duration", type=positive_seconds, metavar="S", help="start a new file every S seconds")
    p.add_argument("--format", choices=("classic", "indexed"), help="log format (default: from OUT's extension)")
    p.add_argument("--max-message-size", type=megabytes, default=64, metavar="MB", help="largest message (default 64)")
    p.add_argument(
        "--connect-timeout",
        type=seconds,
        default=5.0,
        metavar="S",
        help="give up if the gateway is not reached (default 5)",
    )
    p.add_argument(
        "--rpc-url",
        metavar="URL",
        help="the gateway's control API, asked for the board and device info (default: same host, port 7000)",
    )
    p.add_argument("--force", action="store_true", help="replace OUT (and split or burst files) if they exist")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_record)


def _record(args: argparse.Namespace) -> int:
    bursts = args.segments == "activity"
    watching = bursts or args.frames == "activity"
    if args.max_segment is not None and not bursts:
        raise ValueError("--max-segment goes with --segments activity")
    if not watching and (args.post_roll is not None or args.activity):
        raise ValueError("--post-roll and --activity go with --frames activity or --segments activity")
    trigger = 0.0 if watching else (args.pre_roll or 0.0)
    status_line = StatusLine()
    markers: queue.Queue[Marker] = queue.Queue()
    with _stop_signals() as stop, _terminal_input(trigger, markers) as begin:
        summaries = record_session(
            args.uri,
            args.out,
            duration=args.duration,
            split_bytes=round(args.split_size * 1e6) if args.split_size else None,
            split_seconds=args.split_duration,
            bursts=bursts,
            max_segment=args.max_segment,
            stop=stop,
            begin=begin,
            markers=markers,
            on_status=_status_printer(status_line, trigger, bursts),
            include=args.include,
            exclude=args.exclude,
            frames=args.frames,
            pre_roll=args.pre_roll,
            post_roll=args.post_roll,
            activity=args.activity,
            rpc_url=args.rpc_url,
            format=args.format,
            max_message_size=round(args.max_message_size * 1e6),
            connect_timeout=args.connect_timeout,
            overwrite=args.force,
        )
        status_line.close()
    _print_summaries(summaries, args.json)
    return 0


def _status_printer(line: StatusLine, pre_roll: float, bursts: bool) -> Any:
    clock: dict[str, Any] = {"path": "", "recording": 0.0, "segment": 0.0}

    def show(status: RecorderStatus, path: str) -> None:
        if not line.enabled:
            return
        state = "connected" if status.connected else "RECONNECTING"
        activity = ""
        if status.activity is not None:
            activity = f"  activity {'ON' if status.activity else 'off'}  saved {fmt_bytes(status.bytes_saved)}"
        if not path and bursts:
            line.show(f"{state}, waiting for activity: {status.files} file(s) so far{activity}")
            return
        if not path:
            line.show(f"{state}, keeping the last {pre_roll:g} s: press Enter to start recording")
            return
        now = time.monotonic()
        if path != clock["path"]:  # a new file (the first, or after a split)
            clock.update(path=path, segment=now, recording=clock["recording"] or now)
        in_segment = now - clock["segment"]
        rate = status.segment_bytes / in_segment if in_segment > 0.5 else 0.0
        line.show(
            f"{state} -> {path}  {status.segment_events} events  {fmt_bytes(status.segment_bytes)}  "
            f"{fmt_bytes(rate)}/s  {fmt_duration(now - clock['recording'])}  reconnects {status.reconnects}{activity}"
        )

    return show


def _print_summaries(summaries: list[SegmentSummary], as_json: bool, stream: Any = None) -> None:
    if as_json:
        print_json([s.to_dict() for s in summaries])
        return
    out = stream or sys.stdout
    for s in summaries:
        gaps = f", {len(s.gaps)} gap(s) totalling {s.gap_seconds:.1f} s" if s.gaps else ""
        print(
            f"{s.path}: {s.events} events, {fmt_bytes(s.bytes)} in {s.duration:.1f} s "
            f"({s.format}; {s.reconnects} reconnect(s){gaps})",
            file=out,
        )
        if s.frames_dropped or s.windows:
            print(
                f"  activity: {len(s.windows)} window(s); frames {s.frames_kept} kept, {s.frames_dropped} left out "
                f"({fmt_bytes(s.bytes_dropped)} saved)",
                file=out,
            )
        if s.markers:
            print(f"  markers: {s.markers}", file=out)


@contextlib.contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """An event set by Ctrl-C or SIGTERM, so recording stops cleanly and flushes."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _terminal_input(pre_roll: float, markers: queue.Queue[Marker]) -> Iterator[threading.Event | None]:
    """Lines typed on the terminal become markers; with a pre-roll, the first line (or SIGUSR1) starts recording.

    Yields the start trigger: an event set by the first line or SIGUSR1, or None (start at once).
    """
    begin = threading.Event() if pre_roll else None
    previous = signal.signal(signal.SIGUSR1, lambda *_: begin.set()) if begin is not None else None
    if sys.stdin is not None and sys.stdin.isatty():
        threading.Thread(target=_read_lines, args=(sys.stdin, begin, markers), daemon=True).start()
    try:
        yield begin
    finally:
        if previous is not None:
            signal.signal(signal.SIGUSR1, previous)


def _read_lines(stdin: Any, begin: threading.Event | None, markers: queue.Queue[Marker]) -> None:
    for line in stdin:
        now = time.time_ns()
        if begin is not None:
            begin.set()
        try:
            marker = parse_marker_line(line, now)
        except ValueError as exc:
            print(f"\nmarker not added: {exc}", file=sys.stderr)
            continue
        if marker is not None:
            markers.put(marker)


def pdrecord_main(argv: Sequence[str] | None = None) -> int:
    """`pdrecord [--host ws://localhost:7001] [-v] FILENAME`: the original tool's interface."""
    parser = argparse.ArgumentParser(prog="pdrecord", description="Record the PurpleDrop event stream until Ctrl-C.")
    parser.add_argument("--host", default=DEFAULT_URI, help=f"the gateway's websocket (default {DEFAULT_URI})")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each event's kind")
    parser.add_argument("--force", action="store_true", help="replace FILENAME if it exists")
    parser.add_argument("filename", metavar="FILENAME")
    args = parser.parse_args(argv)

    def record(args: argparse.Namespace) -> int:
        with _stop_signals() as stop:

            def print_kind(event: Event) -> None:
                try:
                    print(event.kind, flush=True)
                except BrokenPipeError:  # `pdrecord -v ... | head`: the reader is gone, so stop
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as the Python docs advise
                    stop.set()

            summaries = record_session(
                args.host,
                args.filename,
                stop=stop,
                on_event=print_kind if args.verbose else None,
                overwrite=args.force,
            )
        _print_summaries(summaries, as_json=False, stream=sys.stderr)  # stdout carries the kinds
        return 0

    return run(record, args, prog="pdrecord")
