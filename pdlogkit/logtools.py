"""Work on whole logs, either format: convert, slice, merge, index, verify, recover, and events as dicts.

Each function is what a `pdlogkit` command calls, and works from a script just
as well. Output formats follow `format_for`: `.pdlz` is the indexed container,
anything else classic, unless `format` says. `progress`, where taken, is called
with the input bytes done so far (the command line passes a progress bar).
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import io
import itertools
import os
import time
import warnings
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .errors import LogFormatError, TruncatedLogWarning
from .events import Event, check_kinds
from .files import sidecar as _sidecar
from .files.classic import ClassicReader, ClassicWriter
from .files.indexed import LEVEL, Damage, IndexedWriter, read_indexed_stream
from .formats.container import KIND_SLOTS, MAGIC, ChunkInfo, ChunkRecords, is_container
from .log import ClassicLog, IndexedLog, Log, LogWriter, TimeBound, format_for, open_log
from .timeline import CLOCK_STEP_NS, log_clock

Progress = Callable[[int], None] | None

#: What `recover_log` found: its `status` is one of these.
NOTHING_LOST = "nothing lost"
SOME_LOST = "some lost"
NOTHING_RECOVERABLE = "nothing recoverable"


@dataclass
class WriteReport:
    """What a command that writes a log did."""

    output: str
    format: str
    events: int
    bytes_in: int
    bytes_out: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Input bytes per second."""
        return self.bytes_in / self.seconds if self.seconds > 0 else 0.0


def _writer(path: str | os.PathLike[str], format: str | None, level: int, metadata: dict[str, Any]) -> LogWriter:
    if format_for(path, format) == "indexed":
        return IndexedWriter(path, metadata=metadata, level=level)
    return ClassicWriter(path)


def _metadata(log: Log, **extra: Any) -> dict[str, Any]:
    """Header metadata for a log made from `log`: its own (for a container), what it came from, its time source."""
    meta: dict[str, Any] = {}
    if isinstance(log, IndexedLog):
        meta.update({k: v for k, v in log.metadata.items() if k != "created"})
    else:
        meta["time_source"] = "timestamps"  # a classic log holds no receive times: embedded ones, carried forward
    meta.update(extra)
    return meta


def _timed(log: Log, kinds: Iterable[str] | None, start: TimeBound, end: TimeBound) -> Iterator[tuple[int, Event]]:
    """(time to store as the receive time, event): the log clock; 0 for a log without any time."""
    for t, event in log.timed_events(kinds, start, end):
        yield (0 if t is None else t), event


def _copy(
    pairs: Iterable[tuple[int, Event]], writer: LogWriter, progress: Progress, sources: Sequence[Log]
) -> tuple[int, list[str]]:
    count = 0
    done = 0
    last_report = 0
    with writer:
        for t, event in pairs:
            writer.write(event.payload, t)
            count += 1
            if progress is not None:
                done += len(event.payload) + 4
                if done - last_report > 1 << 22:
                    progress(done)
                    last_report = done
    notes = []
    for log in sources:
        cut = getattr(log, "truncation", None)
        if cut is not None:
            notes.append(f"{log.path}: {cut} (dropped)")
    return count, notes


def _report(
    dst: str | os.PathLike[str], format: str | None, count: int, size_in: int, t0: float, notes: list[str]
) -> WriteReport:
    return WriteReport(
        os.fspath(dst),
        format_for(dst, format),
        count,
        size_in,
        os.path.getsize(dst),
        time.perf_counter() - t0,
        notes,
    )


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    format: str | None = None,
    level: int = LEVEL,
    progress: Progress = None,
) -> WriteReport:
    """Copy a log into another format (or the same one), keeping every event and its order.

    Classic -> container takes receive times from the embedded timestamps (carried
    forward) and marks `time_source: timestamps`; container -> classic reproduces
    the original classic file byte for byte.
    """
    t0 = time.perf_counter()
    _refuse_same(src, dst)
    with open_log(src) as log:
        meta = _metadata(log, converted_from=os.path.basename(os.fspath(src)))
        count, notes = _copy(_timed(log, None, None, None), _writer(dst, format, level, meta), progress, [log])
    return _report(dst, format, count, os.path.getsize(src), t0, notes)


def slice_log(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    start: TimeBound = None,
    end: TimeBound = None,
    kinds: Iterable[str] | None = None,
    format: str | None = None,
    level: int = LEVEL,
    progress: Progress = None,
) -> WriteReport:
    """Write the events of `src` of `kinds` in the window [start, end) (seconds from its start, or datetimes).

    An empty window (end at or before start) is a `ValueError`, before anything is written.
    """
    t0 = time.perf_counter()
    _refuse_same(src, dst)
    with open_log(src) as log:
        if start is not None and end is not None:
            lo, hi = log.window_ns(start, end)
            if lo is not None and hi is not None and hi <= lo:
                raise ValueError(f"the window is empty: end ({end}) is not after start ({start})")
        meta = _metadata(log, sliced_from=os.path.basename(os.fspath(src)))
        pairs = _timed(log, kinds, start, end)
        count, notes = _copy(pairs, _writer(dst, format, level, meta), progress, [log])
    return _report(dst, format, count, os.path.getsize(src), t0, notes)


def merge_logs(
    dst: str | os.PathLike[str],
    sources: Sequence[str | os.PathLike[str]],
    *,
    format: str | None = None,
    level: int = LEVEL,
    progress: Progress = None,
) -> WriteReport:
    """Write the events of several logs into one, ordered by time on each log's clock."""
    t0 = time.perf_counter()
    if not sources:
        raise ValueError("merge needs at least one input log")
    for src in sources:
        _refuse_same(src, dst)
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(open_log(src)) for src in sources]
        sources_meta = [_metadata(log) for log in logs]
        times = {m.get("time_source", "received") for m in sources_meta}
        meta = {
            "merged_from": [os.path.basename(os.fspath(s)) for s in sources],
            "time_source": times.pop() if len(times) == 1 else "mixed",
        }
        streams = [_numbered(log, i) for i, log in enumerate(logs)]
        pairs = ((t, e) for t, _, _, e in heapq.merge(*streams))
        count, notes = _copy(pairs, _writer(dst, format, level, meta), progress, logs)
    return _report(dst, format, count, sum(os.path.getsize(s) for s in sources), t0, notes)


def _numbered(log: Log, i: int) -> Iterator[tuple[int, int, int, Event]]:
    """(time, input position, event number, event): ties in time go by input, then by order within it."""
    for n, (t, event) in enumerate(_timed(log, None, None, None)):
        yield t, i, n, event


def _refuse_same(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    with contextlib.suppress(OSError):
        if os.path.samefile(src, dst):
            raise ValueError(f"output {os.fspath(dst)} is the input; choose another file")


def index_log(path: str | os.PathLike[str], *, progress: Progress = None) -> str | None:
    """Write the sidecar index of a classic log and return its path; None for a container (it has its own)."""
    with open_log(path) as log:
        if isinstance(log, IndexedLog):
            if not log.indexed:
                raise LogFormatError("container has no index (not closed properly): use `pdlogkit recover`", path=path)
            return None
    updater = None if progress is None else _Updater(progress)
    return _sidecar.write_sidecar(path, progress=updater)


class _Updater:
    def __init__(self, progress: Callable[[int], None]) -> None:
        self.update = progress


@dataclass
class VerifyReport:
    """What `verify_log` found. `problems` make it fail; `warnings` do not."""

    path: str
    format: str
    events: int = 0
    chunks: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}


def verify_log(path: str | os.PathLike[str], *, progress: Progress = None) -> VerifyReport:
    """Check a log end to end: checksums, index, truncation, that every payload parses, ordering.

    Receive times (or timestamps) that step back more than a second are warnings.
    """
    path = os.fspath(path)
    with open_log(path, lenient=True) as log, warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncatedLogWarning)  # reported as a problem instead
        report = VerifyReport(path, log.format)
        if isinstance(log, IndexedLog):
            _verify_container(log, report, progress)
        else:
            assert isinstance(log, ClassicLog)
            _verify_classic(log, report, progress)
    return report


def _check_payload(event: Event, report: VerifyReport) -> None:
    try:
        event.message  # noqa: B018 - parsing is the check
    except LogFormatError as exc:
        report.problems.append(str(exc))
        return
    if event.kind == "unknown":
        report.problems.append(f"byte {event.offset}: payload sets no known event kind")


def _check_order(t: int | None, last: int | None, where: int | None, report: VerifyReport, what: str) -> int | None:
    if t is None:
        return last
    if last is not None and t < last - CLOCK_STEP_NS and len(report.warnings) < 100:
        report.warnings.append(f"byte {where}: {what} steps back {(last - t) / 1e9:.3f} s")
    return t if last is None or t > last else last


def _verify_classic(log: ClassicLog, report: VerifyReport, progress: Progress) -> None:
    reader = ClassicReader(log.path, warn=False)
    last = None
    try:
        for event in reader:
            report.events += 1
            _check_payload(event, report)
            last = _check_order(event.time_ns, last, event.offset, report, "timestamp")
            if progress is not None and report.events % 4096 == 0:
                progress(reader.end_offset)
    except LogFormatError as exc:
        report.problems.append(str(exc))
    if reader.truncation is not None:
        report.problems.append(f"{reader.truncation}")


def _verify_container(log: IndexedLog, report: VerifyReport, progress: Progress) -> None:
    """One read of every chunk (the reader checks crcs and columns), in sequence order; damage once per offset."""
    reader = log.reader
    assert reader.index is not None
    index = reader.index
    report.chunks = len(index)
    if not reader.indexed:
        report.problems.append(f"byte {reader.data_end}: no index (the file was not closed properly)")
    if reader.truncation is not None:
        report.problems.append(str(reader.truncation))
    seqs = array("Q")
    rows = {offset: i for i, offset in enumerate(index.offsets)}
    done = 0

    def check_chunk(info: ChunkInfo, recs: ChunkRecords) -> None:
        nonlocal done
        i = rows[info.offset]
        row = index.counts[i * KIND_SLOTS : (i + 1) * KIND_SLOTS]
        if {c: n for c, n in enumerate(row) if n} != info.counts:
            report.problems.append(f"byte {info.offset}: chunk's counts per kind disagree with the index")
        seqs.extend(recs.seqs)
        done = max(done, info.end_offset)
        if progress is not None:
            progress(done)

    counts: dict[str, int] = {}
    last = None
    for event in reader.events(warn=False, on_chunk=check_chunk):
        report.events += 1
        counts[event.kind] = counts.get(event.kind, 0) + 1
        _check_payload(event, report)
        last = _check_order(event.received_ns, last, event.offset, report, "receive time")
    report.problems.extend(str(d) for d in _by_offset(reader.problems))
    ordered = sorted(seqs)
    if any(b == a for a, b in itertools.pairwise(ordered)):
        report.problems.append("some sequence numbers occur twice (events duplicated)")
    elif ordered and ordered[-1] + 1 != len(ordered) and not reader.problems and reader.truncation is None:
        report.problems.append(f"{ordered[-1] + 1 - len(ordered)} events missing (gaps in sequence numbers)")
    if reader.stats is not None and reader.stats.get("counts") != counts and not report.problems:
        report.problems.append("index statistics disagree with the events in the file")


def _by_offset(damage: Iterable[Damage]) -> list[Damage]:
    """One report per byte offset (the first found)."""
    seen: dict[int, Damage] = {}
    for d in damage:
        seen.setdefault(d.offset, d)
    return list(seen.values())


@dataclass
class RecoverReport(WriteReport):
    """What `recover_log` saved, and what it could not."""

    status: str = NOTHING_LOST
    lost: list[str] = field(default_factory=list)


def recover_log(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    format: str | None = None,
    level: int = LEVEL,
    progress: Progress = None,
) -> RecoverReport:
    """Save every readable event of a damaged log (cut short, corrupt chunks, no index) into a proper file.

    `status` says whether anything was lost; a file with nothing readable gives
    `NOTHING_RECOVERABLE` (and an empty but valid output).
    """
    t0 = time.perf_counter()
    _refuse_same(src, dst)
    lost: list[str] = []
    with open_log(src, lenient=True) as log, warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncatedLogWarning)  # reported in `lost` instead
        meta = _metadata(log, recovered_from=os.path.basename(os.fspath(src)))
        writer = _writer(dst, format, level, meta)
        if isinstance(log, IndexedLog):
            count, _ = _copy(_timed(log, None, None, None), writer, progress, [])
            reader = log.reader
            lost += [str(d) for d in reader.problems]
            if reader.truncation is not None:
                lost.append(f"{reader.truncation}")
            if reader.stats is not None and count < reader.stats.get("events", 0):
                lost.append(f"{reader.stats['events'] - count} of {reader.stats['events']} events unreadable")
        else:
            classic = ClassicReader(log.path, warn=False)
            first = log.carry_ns or 0
            pairs = ((first if t is None else t, e) for t, e in log_clock(classic, first))
            try:
                count, _ = _copy(pairs, writer, progress, [])
            except LogFormatError as exc:
                writer.close()
                count = writer.events_written
                lost.append(f"{exc} (everything after it)")
            if classic.truncation is not None:
                lost.append(f"{classic.truncation}")
    status = (NOTHING_RECOVERABLE if count == 0 else SOME_LOST) if lost else NOTHING_LOST
    base = _report(dst, format, count, os.path.getsize(src), t0, [])
    return RecoverReport(**base.__dict__, status=status, lost=lost)


def event_dict(t: int | None, event: Event, *, with_images: bool = False) -> dict[str, Any]:
    """One event as a JSON-ready dict: log time (Unix s), kind, and the message's fields.

    Image bytes become their size and sha256 unless `with_images` (then base64).
    """
    from google.protobuf.json_format import MessageToDict

    message = event.message
    which = message.WhichOneof("msg")
    fields: dict[str, Any] = {}
    if which is not None:
        inner = getattr(message, which)
        data = inner.image_data if which == "image" and not with_images else None
        if data is not None:
            inner = type(inner)(timestamp=inner.timestamp)
        fields = MessageToDict(inner, preserving_proto_field_name=True)
        if data is not None:
            fields["image_data"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return {"time": None if t is None else t / 1e9, "kind": event.kind, "fields": fields}


def stream_events(f: BinaryIO, *, kinds: Iterable[str] | None = None, lenient: bool = False) -> Iterator[Event]:
    """The events of a log read front to back from a pipe or other stream, either format (told by its first bytes).

    For a container they carry their receive times; a classic stream has none.
    """
    wanted = check_kinds(kinds)
    peek = getattr(f, "peek", None)
    head = peek(len(MAGIC))[: len(MAGIC)] if peek is not None else b""
    # A pipe may hand over fewer than 8 bytes at first: a prefix of the magic already tells a container.
    if peek is not None and _starts_like_container(head):
        return read_indexed_stream(f, kinds=wanted, lenient=lenient, path=getattr(f, "name", None))
    if peek is None:  # no look-ahead: read the magic's worth and put it back in front
        head = f.read(len(MAGIC))
        f = io.BufferedReader(_Prefixed(head, f))  # type: ignore[arg-type]
        if _starts_like_container(head):
            return read_indexed_stream(f, kinds=wanted, lenient=lenient)
    return iter(ClassicReader(f, kinds=wanted))


def _starts_like_container(head: bytes) -> bool:
    return is_container(head) or (bool(head) and MAGIC.startswith(head))


class _Prefixed(io.RawIOBase):
    """A raw stream that yields `prefix`, then the rest of `f`."""

    def __init__(self, prefix: bytes, f: BinaryIO) -> None:
        self._prefix = prefix
        self._f = f

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._f.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def event_dicts(
    log: Log | str | os.PathLike[str],
    *,
    kinds: Iterable[str] | None = None,
    start: TimeBound = None,
    end: TimeBound = None,
    with_images: bool = False,
) -> Iterator[dict[str, Any]]:
    """The events of a log as JSON-ready dicts (what `pdlogkit cat` prints, one per line)."""
    if not isinstance(log, Log):
        with open_log(log) as opened:
            yield from event_dicts(opened, kinds=kinds, start=start, end=end, with_images=with_images)
        return
    for t, event in log.timed_events(kinds, start, end):
        yield event_dict(t, event, with_images=with_images)


__all__ = [
    "NOTHING_LOST",
    "NOTHING_RECOVERABLE",
    "SOME_LOST",
    "RecoverReport",
    "VerifyReport",
    "WriteReport",
    "convert",
    "event_dict",
    "event_dicts",
    "index_log",
    "merge_logs",
    "recover_log",
    "slice_log",
    "stream_events",
    "verify_log",
]
