"""`open_log`: one reading API over every log format and source, and `open_writer` to write one.

`Log` is the whole interface callers use: nothing outside `files/` and this
module asks which format a log is in. A log is opened from a path, a seekable
binary file object, or a stream (a pipe, stdin, a FIFO: read once, front to back).
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import math
import os
import stat
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from .errors import LogFormatError, LogReadError, WindowError
from .events import Event, check_kinds
from .files import metafile
from .files import sidecar as _sidecar
from .files.classic import ClassicReader, ClassicWriter
from .files.indexed import IndexedReader, read_indexed_stream
from .files.indexed_writer import LEVEL, IndexedWriter
from .files.output import output_for
from .files.sources import FileObjectSource, FileSource, Source
from .files.streams import Prefetched, interruptible, open_stream, read_up_to
from .files.verify import check_events, verify_classic, verify_container
from .formats.common import Damage, Truncation
from .formats.container import FILE_HEAD_SIZE, MAGIC, Extras, apply_metadata, decode_header, header_size_needed
from .markers import Marker
from .reports import VerifyReport
from .summary import GAP_NS, LogSummary, SummaryBuilder
from .timeline import log_clock

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]
    import pyarrow as pa  # type: ignore[import-untyped]

__all__ = [
    "FORMATS",
    "GAP_NS",
    "INDEXED_SUFFIX",
    "ORDER_SLACK_NS",
    "ClassicLog",
    "IndexedLog",
    "Log",
    "LogSummary",
    "LogWriter",
    "StreamLog",
    "SummaryBuilder",
    "TimeBound",
    "format_for",
    "open_log",
    "open_writer",
]

#: Timestamps of different kinds are only roughly ordered: a time window of a log
#: read without an index keeps scanning this far past its end.
ORDER_SLACK_NS = 10_000_000_000

TimeBound = float | int | dt.datetime | None
Progress = Callable[[int], None] | None

FORMATS = ("classic", "indexed")
INDEXED_SUFFIX = ".pdlz"
#: Seconds `open_log` waits for a process to start writing into a FIFO before giving up.
FIFO_WAIT = 10.0
#: Relative window bounds are within this many seconds of the log's start (about 300 years).
MAX_SECONDS = 1e10


def _bound_ns(bound: float | int | dt.datetime, origin: int | None, what: str) -> int:
    """One window bound in Unix ns: a datetime, or seconds from `origin`; ValueError when it is no usable time."""
    if isinstance(bound, dt.datetime):
        if bound.tzinfo is None:
            raise ValueError(f"{what} {bound} has no time zone; pass an aware datetime")
        return round(bound.timestamp() * 1e9)
    if isinstance(bound, bool) or not isinstance(bound, int | float):
        raise ValueError(f"{what} must be seconds or an aware datetime, not {bound!r}")
    if not math.isfinite(bound) or abs(bound) > MAX_SECONDS:
        raise ValueError(f"{what} must be a finite number of seconds (at most {MAX_SECONDS:g}), not {bound!r}")
    return (origin or 0) + round(float(bound) * 1e9)


class Log(ABC):
    """A log opened for reading, whatever its format and wherever it is. Iterating it yields every event.

    Callers never need to know the format: everything they may ask is here.
    """

    path: str
    format: str
    #: Whether corrupt stretches are skipped (and listed in `problems`) instead of raising.
    lenient: bool = False
    #: The log's metadata (source, recorder, board, device, ...); empty where the log holds none.
    metadata: dict[str, Any]
    #: Where the log ends early (inside a record or chunk, or in zero padding), once read that far.
    truncation: Truncation | None = None

    @property
    @abstractmethod
    def has_index(self) -> bool:
        """Whether time windows and the summary come from an index (a container's, or a classic sidecar)."""

    @property
    def problems(self) -> list[Damage]:
        """Damage found so far (each names its byte offset and kind)."""
        return []

    @abstractmethod
    def events(
        self, kinds: Iterable[str] | None = None, start: TimeBound = None, end: TimeBound = None
    ) -> Iterator[Event]:
        """Events in log order, optionally only some kinds and a time window.

        `start`/`end` are seconds from the log's start, or aware datetimes; the
        window holds events whose log time t has start <= t < end.
        """

    def timed_events(
        self, kinds: Iterable[str] | None = None, start: TimeBound = None, end: TimeBound = None
    ) -> Iterator[tuple[int | None, Event]]:
        """Like `events`, paired with each event's time on the log's clock (Unix ns)."""
        return log_clock(self.events(kinds, start, end), self.start_ns)

    def payload_batches(
        self, kinds: Iterable[str] | None = None, start: TimeBound = None, end: TimeBound = None
    ) -> Iterator[tuple[list[int | None], list[bytes], list[int | None]]]:
        """`timed_events` in batches, without `Event` objects: (log times, payloads, byte offsets) lists.

        The same events in the same order, for code that takes them by the thousand (tables);
        a container hands out a chunk's worth at a time.
        """
        timed = self.timed_events(kinds, start, end)
        while batch := list(itertools.islice(timed, 4096)):
            yield [t for t, _ in batch], [e.payload for _, e in batch], [e.offset for _, e in batch]

    @abstractmethod
    def summary(self) -> LogSummary:
        """What the log holds (from the index where there is one)."""

    @abstractmethod
    def verify(self, progress: Progress = None) -> VerifyReport:
        """Check the whole log: checksums, index, truncation, payloads, ordering, events missing.

        `progress(bytes_done)` is called as it goes.
        """

    @property
    def time_source(self) -> str:
        """What the log's clock is: `received` (the recorder's receive times), `timestamps` (the events'
        embedded timestamps, carried forward) or `mixed` (merged from both)."""
        return str(self.metadata.get("time_source", "received"))

    @property
    def size(self) -> int | None:
        """The log's size in bytes (None for a stream)."""
        return None

    def build_index(self, progress: Progress = None) -> str | None:
        """Make the log quick to window: write a classic log's sidecar index and return its path.

        None when the log has an index of its own; `LogFormatError` for a container that lost
        its index (`recover` makes a proper file of it).
        """
        raise ValueError(f"{self.path} is a stream: save it to a file to index it")

    def markers(self) -> list[Marker]:
        """The markers the log holds (time, text, fields), in time order."""
        return []

    def reopen(self) -> Log:
        """A new, independent handle on the same log, opened the same way (for another reader or thread)."""
        raise ValueError(f"{self.path} cannot be opened again")

    def table(
        self, kind: str, *, start: TimeBound = None, end: TimeBound = None, columns: list[str] | None = None
    ) -> pa.Table:
        """Table `kind` (a kind, `activations` or `markers`) as a `pyarrow.Table`, one row per measurement.

        See `pdlogkit.export.record_batches` (the streaming form) for the columns and
        the window; needs pyarrow (`pip install 'pdlogkit[tables]'`).
        """
        from .export import table

        return table(self, kind, start=start, end=end, columns=columns)

    def to_pandas(
        self, kind: str, *, start: TimeBound = None, end: TimeBound = None, columns: list[str] | None = None
    ) -> pd.DataFrame:
        """Table `kind` as a pandas DataFrame (see `table`); needs pandas and pyarrow."""
        from .export import to_pandas

        return to_pandas(self, kind, start=start, end=end, columns=columns)

    @property
    def start_ns(self) -> int | None:
        """The log's start on its clock, in Unix ns: its earliest event time, the origin of relative windows."""
        return self.summary().start_ns

    def window_ns(self, start: TimeBound, end: TimeBound) -> tuple[int | None, int | None]:
        """Absolute Unix-ns bounds of a window given relative seconds or datetimes (ValueError if unusable)."""
        relative = any(b is not None and not isinstance(b, dt.datetime) for b in (start, end))
        origin = self.start_ns if relative else None
        lo = None if start is None else _bound_ns(start, origin, "start")
        hi = None if end is None else _bound_ns(end, origin, "end")
        return lo, hi

    def require_window(self, start: TimeBound, end: TimeBound) -> tuple[int | None, int | None]:
        """`window_ns`, refusing a window that is empty or holds none of the log (`WindowError`, with its span)."""
        lo, hi = self.window_ns(start, end)
        if lo is not None and hi is not None and hi <= lo:
            raise ValueError(f"the window is empty: end ({end}) is not after start ({start})")
        summary = self.summary()
        first, last = summary.start_ns, summary.end_ns
        if first is None or last is None:
            return lo, hi
        span = f"{self.path} spans 0 to {(last - first) / 1e9:.3f} s ({summary.start} to {summary.end})"
        if lo is not None and lo > last:
            raise WindowError(f"the window starts at {_describe(start, lo, first)}, after the log's end: {span}")
        if hi is not None and hi <= first:
            raise WindowError(f"the window ends at {_describe(end, hi, first)}, before the log's start: {span}")
        return lo, hi

    def close(self) -> None:  # noqa: B027 - most logs hold nothing open between reads
        """Release what the log holds open."""

    def __iter__(self) -> Iterator[Event]:
        return self.events()

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _describe(bound: TimeBound, ns: int, origin: int) -> str:
    return f"{bound}" if isinstance(bound, dt.datetime) else f"{(ns - origin) / 1e9:g} s"


def _filter_timed(
    timed: Iterable[tuple[int | None, Event]], lo: int | None, hi: int | None, slack_ns: int = ORDER_SLACK_NS
) -> Iterator[tuple[int | None, Event]]:
    """(time, event) pairs whose time is within [lo, hi); stops once times pass hi by `slack_ns`."""
    for t, event in timed:
        if t is None:
            if lo is None:
                yield t, event
            continue
        if hi is not None and t >= hi:
            if t >= hi + slack_ns:
                return
            continue
        if lo is None or t >= lo:
            yield t, event


def _inside(t: int | None, lo: int | None, hi: int | None) -> bool:
    if t is None:
        return lo is None
    return (lo is None or t >= lo) and (hi is None or t < hi)


class ClassicLog(Log):
    """A classic log: a scan of length-prefixed records, sped up by a sidecar index if one matches.

    Its markers and metadata worth keeping come from the metadata sidecar beside it, if any.
    """

    format = "classic"

    def __init__(self, source: str | os.PathLike[str] | Source, *, lenient: bool = False) -> None:
        self.source: Source = FileSource(source) if isinstance(source, (str, os.PathLike)) else source
        self.path = self.source.name
        self.lenient = lenient
        local = isinstance(self.source, FileSource)
        self.metadata, self._markers = metafile.read_metafile(self.path) if local else ({}, [])
        self._local = local
        self._summary: LogSummary | None = None
        self._sidecar: _sidecar.Sidecar | bool | None = False  # False: not looked for yet
        self._carry: int | bool | None = False  # False: not looked for yet
        self._problems: list[Damage] = []

    @property
    def has_index(self) -> bool:
        return self.sidecar is not None

    @property
    def time_source(self) -> str:
        return "timestamps"  # a classic log holds no receive times: embedded ones, carried forward

    def markers(self) -> list[Marker]:
        return sorted(self._markers, key=lambda m: m.time_ns)

    @property
    def size(self) -> int:
        return self.source.size

    def build_index(self, progress: Progress = None) -> str | None:
        if not self._local:
            raise ValueError(f"{self.path}: a sidecar index is written next to a local file only")
        self._sidecar = False  # looked for again after this
        return _sidecar.write_sidecar(self.path, progress=progress)

    @property
    def problems(self) -> list[Damage]:
        return list(self._problems)

    @property
    def sidecar(self) -> _sidecar.Sidecar | None:
        """The sidecar index written by `pdlogkit index`, if there is one that matches the file."""
        if self._sidecar is False:
            self._sidecar = _sidecar.load_sidecar(self.path) if self._local else None
        return self._sidecar  # type: ignore[return-value]

    def events(
        self, kinds: Iterable[str] | None = None, start: TimeBound = None, end: TimeBound = None
    ) -> Iterator[Event]:
        if start is None and end is None:
            return self._reader(check_kinds(kinds))
        return (event for _, event in self.timed_events(kinds, start, end))

    def timed_events(
        self, kinds: Iterable[str] | None = None, start: TimeBound = None, end: TimeBound = None
    ) -> Iterator[tuple[int | None, Event]]:
        wanted = check_kinds(kinds)
        lo, hi = self.window_ns(start, end)
        return self._timed(wanted, lo, hi)

    def _timed(
        self, wanted: frozenset[str] | None, lo: int | None, hi: int | None
    ) -> Iterator[tuple[int | None, Event]]:
        sidecar = self.sidecar if lo is not None or hi is not None else None
        if sidecar is not None:
            for t, event in _sidecar.window_events(self.path, sidecar, lo, hi):
                if (wanted is None or event.kind in wanted) and _inside(t, lo, hi):
                    yield t, event
            return
        # Times must be carried over events of every kind, so filter kinds after timing.
        timed = log_clock(self._reader(None), self.carry_ns)
        if lo is None and hi is None:
            yield from (pair for pair in timed if wanted is None or pair[1].kind in wanted)
            return
        for t, event in _filter_timed(timed, lo, hi):
            if wanted is None or event.kind in wanted:
                yield t, event

    def _reader(self, kinds: frozenset[str] | None) -> Iterator[Event]:
        reader = ClassicReader(self.source, kinds=kinds, lenient=self.lenient)
        yield from reader
        self.truncation = reader.truncation
        if reader.damage is not None and reader.damage not in self._problems:
            self._problems.append(reader.damage)

    @property
    def carry_ns(self) -> int | None:
        """The time on the log's clock of the events before the first timestamp: that first timestamp."""
        if self._carry is False:
            self._carry = next(
                (e.time_ns for e in ClassicReader(self.source, warn=False, lenient=True) if e.time_ns is not None),
                None,
            )
        return self._carry  # type: ignore[return-value]

    def summary(self) -> LogSummary:
        if self._summary is None:
            sidecar = self.sidecar
            if sidecar is not None:
                builder = SummaryBuilder.from_stats(sidecar.summary)
                self._summary = builder.build(
                    self.path,
                    self.format,
                    self.source.size,
                    truncation=_sidecar.truncation_of(sidecar.summary),
                    source="sidecar",
                    metadata=self.metadata,
                )
            else:
                builder = SummaryBuilder()
                reader = ClassicReader(self.source, warn=False, lenient=self.lenient)
                for t, event in log_clock(reader):
                    builder.add(event.kind, len(event.payload), t)
                if reader.damage is not None and reader.damage not in self._problems:
                    self._problems.append(reader.damage)
                self.truncation = reader.truncation
                self._summary = builder.build(
                    self.path, self.format, self.source.size, truncation=reader.truncation, metadata=self.metadata
                )
            self._summary.problems = [str(d) for d in self._problems]
        return self._summary

    def verify(self, progress: Progress = None) -> VerifyReport:
        return verify_classic(self.source, self.metadata, progress)

    def reopen(self) -> ClassicLog:
        return ClassicLog(self.source.reopen(), lenient=self.lenient)

    def close(self) -> None:
        self.source.close()


class IndexedLog(Log):
    """An indexed container (`.pdlz`): windows, kinds and the summary come from its index.

    A file without an index (cut short, recorder killed) is read by scanning its
    chunk headers. `lenient` skips corrupt chunks (listed in `problems`) instead of
    raising `LogFormatError` at the first. `verify=False` skips the chunk checksums
    (what mcap's reader does by default), for speed on trusted files.
    """

    format = "indexed"

    def __init__(self, source: str | os.PathLike[str] | Source, *, lenient: bool = False, verify: bool = True) -> None:
        self.reader = IndexedReader(source, lenient=lenient, verify=verify)
        self.path = self.reader.path
        self.lenient = lenient
        #: The metadata of the file's header (source, recorder, time_source, board, ...).
        self.metadata: dict[str, Any] = self.reader.metadata
        self.truncation = self.reader.truncation
        self._summary: LogSummary | None = None

    @property
    def has_index(self) -> bool:
        return self.reader.indexed

    @property
    def size(self) -> int:
        return self.reader.file_size

    def build_index(self, progress: Progress = None) -> str | None:
        if not self.reader.indexed:
            raise LogFormatError(
                "container has no index (not closed properly): use `pdlogkit recover` to make a proper file",
                path=self.path,
            )
        return None

    @property
    def problems(self) -> list[Damage]:
        return list(self.reader.problems)

    def markers(self) -> list[Marker]:
        return sorted(self.reader.markers, key=lambda m: m.time_ns)

    def events(
        self, kinds: Iterable[str] | None = None, start: TimeBound = None, end: TimeBound = None
    ) -> Iterator[Event]:
        wanted = check_kinds(kinds)
        lo, hi = self.window_ns(start, end) if start is not None or end is not None else (None, None)
        return self.reader.events(wanted, lo, hi)

    def timed_events(
        self, kinds: Iterable[str] | None = None, start: TimeBound = None, end: TimeBound = None
    ) -> Iterator[tuple[int | None, Event]]:
        return ((event.received_ns, event) for event in self.events(kinds, start, end))

    def payload_batches(
        self, kinds: Iterable[str] | None = None, start: TimeBound = None, end: TimeBound = None
    ) -> Iterator[tuple[list[int | None], list[bytes], list[int | None]]]:
        wanted = check_kinds(kinds)
        lo, hi = self.window_ns(start, end) if start is not None or end is not None else (None, None)
        return self.reader.payload_batches(wanted, lo, hi)  # type: ignore[return-value]

    @property
    def start_ns(self) -> int | None:
        # The earliest chunk start, from the index or the header scan: no chunk is read. (Statistics of
        # files written before the start was the earliest time may hold the first event's time instead.)
        starts = self.reader.index.starts if self.reader.index is not None else []
        return min(starts) if starts else None

    def summary(self) -> LogSummary:
        if self._summary is None:
            reader = self.reader
            extra: dict[str, Any] = {
                "time_source": self.metadata.get("time_source", "received"),
                "truncation": reader.truncation,
                "metadata": self.metadata,
                "chunks": reader.chunk_count,
            }
            if reader.stats is not None:
                builder = SummaryBuilder.from_stats(reader.stats)
                extra["source"] = "index"
            else:
                builder = SummaryBuilder()
                for event in reader.events(warn=False):
                    builder.add(event.kind, len(event.payload), event.received_ns)
            if builder.start_ns is not None and self.start_ns is not None:
                builder.start_ns = min(builder.start_ns, self.start_ns)  # the same origin as windows
            summary = builder.build(self.path, self.format, reader.file_size, **extra)
            summary.problems = [str(d) for d in self.problems]
            self._summary = summary
        return self._summary

    def verify(self, progress: Progress = None) -> VerifyReport:
        reader = self.reader if self.lenient else IndexedReader(self.reader.source.reopen(), lenient=True)
        try:
            return verify_container(reader, progress)
        finally:
            if reader is not self.reader:
                reader.close()

    def reopen(self) -> IndexedLog:
        return IndexedLog(self.reader.source.reopen(), lenient=self.lenient, verify=self.reader.verify)

    def close(self) -> None:
        self.reader.close()


class StreamLog(Log):
    """A log read once, front to back, from a stream (a pipe, stdin, a FIFO, a socket): no index, no seeking.

    Either format, told from the first bytes without losing them. `events()`,
    `summary()` or `verify()` reads the stream; a second read is a `ValueError`.
    Windows take aware datetimes only (seconds from the start would need the
    earliest time before the first event is read).
    """

    def __init__(self, f: BinaryIO, *, name: str | None = None, lenient: bool = False, owned: bool = False) -> None:
        self.path = name or str(getattr(f, "name", None) or "<stream>")
        self.lenient = lenient
        self._owned = f if owned else None
        f = interruptible(f)
        head = read_up_to(f, FILE_HEAD_SIZE)
        container = bool(head) and MAGIC.startswith(head[: len(MAGIC)])
        self.format = "indexed" if container else "classic"
        self.metadata = {}
        if container and len(head) == FILE_HEAD_SIZE:
            # The header is read here (and handed back to the reader with the rest), for its metadata.
            try:
                need = header_size_needed(head)
                head += read_up_to(f, need - len(head))
                if len(head) == need:
                    self.metadata = decode_header(head)[0]
            except LogReadError as exc:
                raise LogReadError(exc.reason, path=self.path, offset=exc.offset) from None
        self._stream: BinaryIO | None = io.BufferedReader(Prefetched(head, f))  # type: ignore[arg-type]
        self._problems: list[Damage] = []
        self._cuts: list[Truncation] = []
        self._extras: list[Extras] = []
        self._summary: LogSummary | None = None

    @property
    def has_index(self) -> bool:
        return False

    def markers(self) -> list[Marker]:
        """The markers of the chunks read so far (a stream's are known as it is read)."""
        return sorted((m for extras in self._extras for m in extras.markers), key=lambda m: m.time_ns)

    @property
    def problems(self) -> list[Damage]:
        return list(self._problems)

    def _take(self) -> BinaryIO:
        stream, self._stream = self._stream, None
        if stream is None:
            raise ValueError(f"{self.path} is a stream and was read already: it can be read once (save it to a file)")
        return stream

    def events(
        self, kinds: Iterable[str] | None = None, start: TimeBound = None, end: TimeBound = None
    ) -> Iterator[Event]:
        wanted = check_kinds(kinds)
        if any(b is not None and not isinstance(b, dt.datetime) for b in (start, end)):
            raise ValueError(f"{self.path} is a stream: give the window as date-times, not seconds from its start")
        lo, hi = self.window_ns(start, end)
        return self._events(wanted, lo, hi)

    def _events(self, wanted: frozenset[str] | None, lo: int | None, hi: int | None) -> Iterator[Event]:
        stream = self._take()
        if self.format == "indexed":
            yield from read_indexed_stream(
                stream,
                kinds=wanted,
                lo=lo,
                hi=hi,
                lenient=self.lenient,
                path=self.path,
                problems=self._problems,
                truncation=self._cuts,
                extras=self._extras,
            )
            self.truncation = self._cuts[0] if self._cuts else None
            for extras in self._extras:
                apply_metadata(self.metadata, extras.metadata)
            return
        reader = ClassicReader(stream, lenient=self.lenient)
        timed = log_clock(reader)
        for _, event in timed if lo is None and hi is None else _filter_timed(timed, lo, hi):
            if wanted is None or event.kind in wanted:
                yield event
        self.truncation = reader.truncation
        if reader.damage is not None:
            self._problems.append(reader.damage)

    def timed_events(
        self, kinds: Iterable[str] | None = None, start: TimeBound = None, end: TimeBound = None
    ) -> Iterator[tuple[int | None, Event]]:
        return log_clock(self.events(kinds, start, end))

    @property
    def start_ns(self) -> int | None:
        return self._summary.start_ns if self._summary is not None else None

    def summary(self) -> LogSummary:
        if self._summary is None:
            builder = SummaryBuilder()
            for t, event in self.timed_events():
                builder.add(event.kind, len(event.payload), t)
            size = sum(builder.sizes.values()) + 4 * builder.events  # as classic: a stream has no file size
            self._summary = builder.build(
                self.path, self.format, size, truncation=self.truncation, metadata=self.metadata
            )
            self._summary.problems = [str(d) for d in self._problems]
        return self._summary

    def verify(self, progress: Progress = None) -> VerifyReport:
        report = VerifyReport(self.path, self.format)
        check_events(self.events(), report)
        report.problems += [str(d) for d in self._problems]
        if self.truncation is not None:
            report.problems.append(str(self.truncation))
        return report

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()


class LogWriter(Protocol):
    """What every log writer offers; `open_writer` returns one."""

    format: str
    path: str | None
    bytes_written: int
    events_written: int
    events_in_file: int

    def write(self, payload: bytes, received_ns: int | None = None) -> None: ...
    def add_marker(self, marker: Marker) -> None: ...
    def update_metadata(self, update: dict[str, Any]) -> None: ...
    def flush(self) -> None: ...
    def sync(self) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def __enter__(self) -> LogWriter: ...
    def __exit__(self, exc_type: object, *exc: object) -> None: ...


def format_for(path: str | os.PathLike[str] | None, format: str | None = None) -> str:
    """The format a log written to `path` gets: `format` if given, else by extension (classic for streams)."""
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"unknown log format {format!r}; choose from {', '.join(FORMATS)}")
        return format
    if path is None:
        return "classic"
    return "indexed" if Path(path).suffix.lower() == INDEXED_SUFFIX else "classic"


def open_writer(
    target: str | os.PathLike[str] | BinaryIO,
    format: str | None = None,
    *,
    metadata: dict[str, Any] | None = None,
    level: int = LEVEL,
    overwrite: bool = False,
    atomic: bool = True,
) -> LogWriter:
    """Open a new log for writing; the format comes from the extension unless `format` says.

    By default the log is written to a temporary file beside `target` that becomes
    `target` only when `close()` completes it; `abort()`, an error inside a `with`
    block, or an interruption leaves nothing. An existing file is replaced only
    with `overwrite=True` (else `OutputExistsError`). `atomic=False` writes in
    place, as a recorder does (a crash leaves what was written). `metadata`
    (source, recorder, board, ...) goes into a container's header; `level` is its
    zstd level (1-19). `target` may also be a binary stream (written as it is).
    """
    path = target if isinstance(target, (str, os.PathLike)) else None
    chosen = format_for(path, format)
    out = output_for(target, overwrite=overwrite, atomic=atomic)
    try:
        if chosen == "indexed":
            return IndexedWriter(out, metadata=metadata, level=level)
        return ClassicWriter(out, metadata=metadata)
    except BaseException:
        out.abort()
        raise


def open_log(source: str | os.PathLike[str] | BinaryIO, *, lenient: bool = False) -> Log:
    """Open a log of any format for reading; the format is detected from its content.

    `source` is a path, a seekable binary file object, or a stream (a pipe, stdin:
    read once, front to back). A FIFO is read as a stream once a process writes
    into it (`LogReadError` after `FIFO_WAIT` seconds without one, never a hang).
    `lenient` skips corrupt stretches (listed in `Log.problems`) instead of raising
    `LogFormatError` at the first.
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        mode = os.stat(path).st_mode  # a missing or unreadable file raises OSError here, not later
        if stat.S_ISDIR(mode):
            raise LogReadError("is a folder, not a log", path=path)
        if not stat.S_ISREG(mode):
            return StreamLog(open_stream(path, FIFO_WAIT), name=path, lenient=lenient, owned=True)
        return _from_source(FileSource(path), lenient)
    if _seekable(source):
        return _from_source(FileObjectSource(source), lenient)
    return StreamLog(source, lenient=lenient)


#: The first bytes of an MCAP file (read by `pdlogkit.files.mcap.McapLog`).
MCAP_MAGIC = b"\x89MCAP0\r\n"


def _from_source(source: Source, lenient: bool) -> Log:
    magic = source.pread(len(MAGIC), 0)
    try:
        if source.pread(len(MCAP_MAGIC), 0) == MCAP_MAGIC:
            from .files.mcap import McapLog

            return McapLog(source, lenient=lenient)
        # A container cut inside its magic is one too; so is an empty file named like one.
        if (magic and MAGIC.startswith(magic)) or (not magic and source.name.lower().endswith(INDEXED_SUFFIX)):
            return IndexedLog(source, lenient=lenient)
        return ClassicLog(source, lenient=lenient)
    except BaseException:
        source.close()
        raise


def _seekable(f: BinaryIO) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, ValueError, OSError):
        return False
