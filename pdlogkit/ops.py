"""Operations on whole logs, either format: convert, slice, merge, recover, index and verify.

Each function is what a `pdlogkit` command calls, and works from a script just
as well. Output formats follow `format_for`: `.pdlz` is the indexed container,
anything else classic, unless `format` says. Every output is written to a
temporary file and appears at its path only when complete: an error, Ctrl-C or
SIGTERM leaves no partial file, and an existing file is replaced only with
`overwrite=True`. `progress`, where taken, is called with the input bytes done
so far (the command line passes a progress bar).
"""

from __future__ import annotations

import contextlib
import heapq
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, BinaryIO

from .activity import (
    POST_ROLL,
    PRE_ROLL,
    ActivityDetector,
    ActivityGate,
    ActivitySpec,
    ItemKind,
    Window,
    find_windows,
)
from .errors import TruncatedLogWarning, WindowError
from .events import Event
from .files.indexed_writer import LEVEL
from .files.output import refuse_inputs
from .formats.common import DamageKind
from .log import Log, LogWriter, TimeBound, format_for, open_log, open_writer
from .markers import Marker
from .reports import (
    ActivityPeriod,
    ActivityReport,
    RecoverReport,
    RecoverStatus,
    TrimReport,
    VerifyReport,
    WriteReport,
)

Progress = Callable[[int], None] | None
Source = str | os.PathLike[str] | BinaryIO

#: Metadata a log made from another does not inherit (it describes the file, not the recording).
_NOT_INHERITED = frozenset(
    {"created", "converted_from", "sliced_from", "recovered_from", "merged_from", "trimmed_from", "trim"}
)


def _metadata(log: Log, **extra: Any) -> dict[str, Any]:
    """Header metadata for a log made from `log`: its own, its time source, and what it was made from."""
    meta = {k: v for k, v in log.metadata.items() if k not in _NOT_INHERITED}
    meta["time_source"] = log.time_source
    meta.update(extra)
    return meta


def _timed(log: Log, kinds: Iterable[str] | None, start: TimeBound, end: TimeBound) -> Iterator[tuple[int, Event]]:
    """(time to store as the receive time, event): the log clock; 0 for a log without any time."""
    for t, event in log.timed_events(kinds, start, end):
        yield (0 if t is None else t), event


def _copy(
    pairs: Iterable[tuple[int, Event]],
    writer: LogWriter,
    progress: Progress,
    markers: Callable[[], Iterable[Marker]] = list,
) -> int:
    """Write every (time, event), then the `markers()` (asked once the events are read: a stream's come as it
    is read), and finish the file; on any error or interruption leave nothing."""
    count = done = last_report = 0
    with writer:
        for t, event in pairs:
            writer.write(event.payload, t)
            count += 1
            if progress is not None:
                done += len(event.payload) + 4
                if done - last_report > 1 << 22:
                    progress(done)
                    last_report = done
        for marker in markers():
            writer.add_marker(marker)
    return count


def _markers_within(log: Log, lo: int | None, hi: int | None) -> list[Marker]:
    """The log's markers in [lo, hi) on its clock."""
    return [m for m in log.markers() if (lo is None or m.time_ns >= lo) and (hi is None or m.time_ns < hi)]


def _notes(logs: Sequence[Log]) -> list[str]:
    return [f"{log.path}: {log.truncation} (dropped)" for log in logs if log.truncation is not None]


def _name(src: Source) -> str:
    return os.path.basename(os.fspath(src)) if isinstance(src, (str, os.PathLike)) else str(getattr(src, "name", "-"))


def _report(dst: str | os.PathLike[str], format: str, count: int, logs: Sequence[Log], t0: float) -> WriteReport:
    size_in = sum(log.size or 0 for log in logs)
    size_out = os.path.getsize(dst) if os.path.isfile(dst) else 0
    return WriteReport(os.fspath(dst), format, count, size_in, size_out, time.perf_counter() - t0, _notes(logs))


def convert(
    src: Source,
    dst: str | os.PathLike[str],
    *,
    format: str | None = None,
    level: int = LEVEL,
    overwrite: bool = False,
    progress: Progress = None,
) -> WriteReport:
    """Copy a log into another format (or the same one), keeping every event and its order.

    Classic -> container takes receive times from the embedded timestamps (carried
    forward) and marks `time_source: timestamps`; container -> classic reproduces
    the original classic file byte for byte. `src` may be a stream (a pipe).
    `dst` ending in `.mcap` (or `format="mcap"`) gets MCAP, as `pdlogkit export` writes it.
    """
    t0 = time.perf_counter()
    refuse_inputs(dst, [src])
    if format == "mcap" or (format is None and os.fspath(dst).lower().endswith(".mcap")):
        return _convert_to_mcap(src, dst, overwrite, progress)
    with open_log(src) as log:
        meta = _metadata(log, converted_from=_name(src))
        writer = open_writer(dst, format, metadata=meta, level=level, overwrite=overwrite)
        count = _copy(_timed(log, None, None, None), writer, progress, log.markers)
        return _report(dst, writer.format, count, [log], t0)


def _convert_to_mcap(src: Source, dst: str | os.PathLike[str], overwrite: bool, progress: Progress) -> WriteReport:
    """`convert` into MCAP: what `pdlogkit.export.export_log` writes (progress in input bytes, estimated)."""
    from .export.run import export_log

    with open_log(src) as log:
        size = log.size or 0
        tick = None if progress is None else (lambda done, total: progress(size * done // total if total else 0))
        report = export_log(log, dst, format="mcap", overwrite=overwrite, progress=tick)
        return WriteReport(os.fspath(dst), "mcap", report.events, size, report.bytes_out, report.seconds, report.notes)


def slice_log(
    src: Source,
    dst: str | os.PathLike[str],
    *,
    start: TimeBound = None,
    end: TimeBound = None,
    kinds: Iterable[str] | None = None,
    format: str | None = None,
    level: int = LEVEL,
    overwrite: bool = False,
    progress: Progress = None,
) -> WriteReport:
    """Write the events of `src` of `kinds` in the window [start, end) (seconds from its start, or datetimes).

    An empty window (end at or before start) is a `ValueError`; a window outside
    the log, or one holding no event of `kinds`, is a `WindowError` naming the
    log's span. Nothing is written in either case. The markers in the window come along.
    """
    t0 = time.perf_counter()
    refuse_inputs(dst, [src])
    with open_log(src) as log:
        lo, hi = log.window_ns(start, end)
        if start is not None or end is not None:
            lo, hi = log.require_window(start, end)
        meta = _metadata(log, sliced_from=_name(src))
        writer = open_writer(dst, format, metadata=meta, level=level, overwrite=overwrite)
        pairs = _nonempty(_timed(log, kinds, start, end), log, writer)
        count = _copy(pairs, writer, progress, lambda: _markers_within(log, lo, hi))
        return _report(dst, writer.format, count, [log], t0)


def _nonempty(pairs: Iterator[tuple[int, Event]], log: Log, writer: LogWriter) -> Iterator[tuple[int, Event]]:
    """The pairs, or a `WindowError` (and no output) when there are none."""
    first = next(pairs, None)
    if first is None:
        raise WindowError(f"no event of the chosen kinds in the window of {log.path}: nothing to write")
    yield first
    yield from pairs


def merge_logs(
    dst: str | os.PathLike[str],
    sources: Sequence[Source],
    *,
    format: str | None = None,
    level: int = LEVEL,
    overwrite: bool = False,
    progress: Progress = None,
) -> WriteReport:
    """Write the events of several logs into one, ordered by time on each log's clock."""
    t0 = time.perf_counter()
    if not sources:
        raise ValueError("merge needs at least one input log")
    refuse_inputs(dst, sources)
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(open_log(src)) for src in sources]
        times = {log.time_source for log in logs}
        meta = {
            "merged_from": [_name(s) for s in sources],
            "time_source": times.pop() if len(times) == 1 else "mixed",
        }
        streams = [_numbered(log, i) for i, log in enumerate(logs)]
        pairs = ((t, e) for t, _, _, e in heapq.merge(*streams))
        writer = open_writer(dst, format, metadata=meta, level=level, overwrite=overwrite)
        count = _copy(pairs, writer, progress, lambda: sorted((m for log in logs for m in log.markers()), key=_when))
        return _report(dst, writer.format, count, logs, t0)


def _when(marker: Marker) -> int:
    return marker.time_ns


def _numbered(log: Log, i: int) -> Iterator[tuple[int, int, int, Event]]:
    """(time, input position, event number, event): ties in time go by input, then by order within it."""
    for n, (t, event) in enumerate(_timed(log, None, None, None)):
        yield t, i, n, event


def index_log(
    path: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    progress: Progress = None,
) -> str | None:
    """Write the sidecar index of a classic log and return its path; None for a container (it has its own).

    It goes beside the log, or to `out` (a file, or a folder to write `NAME.pdidx` in): a remote log's
    sidecar is written locally, to be put beside the log. An older sidecar there is replaced; any
    other file only with `overwrite`.
    """
    with open_log(path) as log:
        if out is not None and os.path.isdir(out):
            out = os.path.join(out, os.path.basename(log.path) + ".pdidx")
        return log.build_index(progress, out, overwrite=overwrite)


def verify_log(source: Source, *, progress: Progress = None) -> VerifyReport:
    """Check a log end to end: checksums, index, truncation, that every payload parses, ordering, missing events.

    Receive times (or timestamps) that step back more than a second are warnings.
    Something that is not a log at all raises `LogFormatError`.
    """
    with open_log(source, lenient=True) as log, warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncatedLogWarning)  # reported as a problem instead
        return log.verify(progress)


def _losses(log: Log) -> list[str]:
    """What reading `log` (leniently, all of it) could not save, each naming its byte offset."""
    lost = [str(d) for d in log.problems if d.costs_events or d.kind is DamageKind.HEADER]  # metadata lost too
    if log.truncation is not None:
        lost.append(str(log.truncation))
    return lost


def recover_log(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    format: str | None = None,
    level: int = LEVEL,
    overwrite: bool = False,
    progress: Progress = None,
) -> RecoverReport:
    """Save every readable event of a damaged log (cut short, corrupt chunks, no index, padding) into a proper file.

    `status` says whether anything was lost: corrupt or cut stretches, and events
    missing from the sequence, are losses. The output keeps saying what was lost
    (its metadata, or the metadata sidecar of a classic output), so `verify`
    reports it. A file with nothing readable gives `NOTHING_RECOVERABLE` and no output.
    """
    t0 = time.perf_counter()
    refuse_inputs(dst, [src])
    with open_log(src, lenient=True) as log, warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncatedLogWarning)  # reported in `lost` instead
        expected = log.summary().events if log.has_index else None
        read = sum(1 for _ in log.events())  # a first pass finds every loss: the header must say them
        lost = _losses(log)
        if expected is not None and read < expected:
            lost.append(f"{expected - read} of {expected} events unreadable")
        meta = _metadata(log, recovered_from=_name(src))
        if lost:
            meta["incomplete"] = {"recovered_from": _name(src), "lost": lost}
        if read == 0 and lost:
            chosen = format_for(dst, format)
            seconds = time.perf_counter() - t0
            report = RecoverReport(os.fspath(dst), chosen, 0, log.size or 0, 0, seconds, [])
            report.status, report.lost = RecoverStatus.NOTHING_RECOVERABLE, lost
            return report
        with log.reopen() as again:
            writer = open_writer(dst, format, metadata=meta, level=level, overwrite=overwrite)
            count = _copy(_timed(again, None, None, None), writer, progress, again.markers)
        base = _report(dst, writer.format, count, [log], t0)
    status = RecoverStatus.SOME_LOST if lost else RecoverStatus.NOTHING_LOST
    return RecoverReport(**{**base.__dict__, "notes": []}, status=status, lost=lost)


def _periods(windows: list[Window], log: Log) -> list[ActivityPeriod]:
    """The windows as periods in seconds from the log's start, their rolls cut at the log's ends."""
    summary = log.summary()
    zero = log.start_ns or 0
    end = (summary.end_ns or zero) - zero
    return [
        ActivityPeriod(
            max(0, w.start_ns - zero) / 1e9,
            min(end, w.end_ns - zero) / 1e9,
            (w.first_ns - zero) / 1e9,
            (w.last_ns - zero) / 1e9,
            w.activities,
            sorted(w.electrodes),
        )
        for w in windows
    ]


def find_activity(
    source: Source,
    *,
    pre_roll: float = PRE_ROLL,
    post_roll: float = POST_ROLL,
    activity: ActivitySpec = None,
) -> ActivityReport:
    """The periods of activity of a log: each from `pre_roll` seconds before an activity to `post_roll` after
    the last one, with its moves and the electrodes they switched, and how much of the log they cover.

    `activity` is what counts (see `pdlogkit.activity`); markers count too. Times
    are seconds from the log's start. These are the periods `trim_log` keeps.
    """
    detector = ActivityGate(pre_roll, post_roll, activity=activity).detector  # checks the arguments first
    with open_log(source) as log:
        windows = activity_windows(log, pre_roll=pre_roll, post_roll=post_roll, activity=detector)
        summary = log.summary()
        return ActivityReport(
            log.path, detector.description, pre_roll, post_roll, summary.duration, _periods(windows, log)
        )


def activity_windows(
    log: Log,
    *,
    pre_roll: float = PRE_ROLL,
    post_roll: float = POST_ROLL,
    activity: ActivitySpec | ActivityDetector = None,
    end: TimeBound = None,
    pace: Callable[[Iterator[tuple[int | None, Event]]], Iterator[tuple[int | None, Event]]] | None = None,
) -> list[Window]:
    """The windows of activity of an open log (markers count), up to `end`: what `find_activity`, the
    timeline figure and the viewer show. Only the kinds the detector needs are read (electrode states
    by default), so a container's camera chunks are skipped. `pace` may wrap the events as they are read
    (the replay stops and yields with it).
    """
    detector = activity if isinstance(activity, ActivityDetector) else ActivityDetector(activity)
    timed = log.timed_events(kinds=detector.kinds, end=end)
    if pace is not None:
        timed = pace(timed)
    return find_windows(timed, pre_roll=pre_roll, post_roll=post_roll, activity=detector, markers=log.markers())


def trim_log(
    src: Source,
    dst: str | os.PathLike[str],
    *,
    pre_roll: float = PRE_ROLL,
    post_roll: float = POST_ROLL,
    frames_only: bool = False,
    activity: ActivitySpec = None,
    format: str | None = None,
    level: int = LEVEL,
    overwrite: bool = False,
    progress: Progress = None,
) -> TrimReport:
    """Keep only the periods of activity of a log (see `find_activity`), or with `frames_only` every event but
    the camera frames outside them: what the recorder's live modes keep, decided by the same gate.

    The markers kept come along. A log without any activity gives a `WindowError`
    (and no output) unless `frames_only`. The output is written safely (see the module).
    """
    t0 = time.perf_counter()
    refuse_inputs(dst, [src])
    with open_log(src) as log:
        gate = ActivityGate(pre_roll, post_roll, scope="camera" if frames_only else "all", activity=activity)
        meta = _metadata(
            log,
            trimmed_from=_name(src),
            trim={"pre_roll": pre_roll, "post_roll": post_roll, "frames_only": frames_only},
        )
        writer = open_writer(dst, format, metadata=meta, level=level, overwrite=overwrite)
        count = done = 0
        with writer:
            for t, event in _with_markers(_timed(log, None, None, None), log, gate):
                gate.feed(t, event.payload, event.kind)
                count, done = _write_kept(gate, writer, count, done, progress)
            gate.finish()
            count, done = _write_kept(gate, writer, count, done, progress)
            if not count:
                raise WindowError(f"no activity in {log.path} ({gate.detector.description}): nothing to keep")
        report = _report(dst, writer.format, count, [log], t0)
        counts = gate.counts
        return TrimReport(
            **report.__dict__,
            frames_only=frames_only,
            events_cut=counts.events_dropped,
            frames_kept=counts.frames_kept,
            frames_cut=counts.frames_dropped,
            bytes_cut=counts.bytes_dropped,
            markers=counts.markers,
            periods=_periods(gate.windows, log),
        )


def _with_markers(pairs: Iterable[tuple[int, Event]], log: Log, gate: ActivityGate) -> Iterator[tuple[int, Event]]:
    """The pairs, with the log's markers handed to the gate in time order among them."""
    pending = log.markers()
    for t, event in pairs:
        while pending and pending[0].time_ns <= t:
            gate.mark(pending.pop(0))
        yield t, event
    for marker in pending:
        gate.mark(marker)


def _write_kept(gate: ActivityGate, writer: LogWriter, count: int, done: int, progress: Progress) -> tuple[int, int]:
    for item in gate.take():
        if not item.keep:
            continue
        if item.kind is ItemKind.MARKER and item.marker is not None:
            writer.add_marker(item.marker)
        elif item.kind is ItemKind.EVENT:
            writer.write(item.payload, item.time_ns)
            count += 1
            if progress is not None:
                before, done = done, done + len(item.payload) + 4
                if done >> 22 != before >> 22:
                    progress(done)
    return count, done


__all__ = [
    "convert",
    "find_activity",
    "index_log",
    "merge_logs",
    "recover_log",
    "slice_log",
    "trim_log",
    "verify_log",
]
