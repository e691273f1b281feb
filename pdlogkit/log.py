"""`open_log`: one reading API over every log format, and `open_writer` to write one."""

from __future__ import annotations

import datetime as dt
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from .events import Event, check_kinds
from .files import sidecar as _sidecar
from .files.classic import ClassicReader, ClassicWriter
from .files.indexed import IndexedReader, IndexedWriter
from .formats.classic import Truncation
from .formats.container import MAGIC, is_container
from .summary import GAP_NS, LogSummary, SummaryBuilder
from .timeline import log_clock

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

FORMATS = ("classic", "indexed")
INDEXED_SUFFIX = ".pdlz"


class Log(ABC):
    """A log file opened for reading, whatever its format. Iterating it yields every event.

    Callers never need to know the format: everything they may ask is here.
    """

    path: str
    format: str
    #: Whether corrupt stretches are skipped (and listed in `problems`) instead of raising.
    lenient: bool = False
    #: The log's metadata (source, recorder, board, device, ...); empty where the format holds none.
    metadata: dict[str, Any]
    #: Where the log ends inside a record or chunk (known once read that far), else None.
    truncation: Truncation | None = None

    @property
    @abstractmethod
    def has_index(self) -> bool:
        """Whether time windows and the summary come from an index (a container's, or a classic sidecar)."""

    @property
    def problems(self) -> list[str]:
        """Damage found so far, each naming its byte offset."""
        return []

    def reopen(self) -> Log:
        """A new, independent handle on the same log, opened the same way (for another reader or thread)."""
        return open_log(self.path, lenient=self.lenient)

    @abstractmethod
    def events(
        self, kinds: Iterable[str] | None = None, start: TimeBound = None, end: TimeBound = None
    ) -> Iterator[Event]:
        """Events in log order, optionally only some kinds and a time window.

        `start`/`end` are seconds from the log's start, or absolute datetimes; the
        window holds events whose log time t has start <= t < end.
        """

    def timed_events(
        self, kinds: Iterable[str] | None = None, start: TimeBound = None, end: TimeBound = None
    ) -> Iterator[tuple[int | None, Event]]:
        """Like `events`, paired with each event's time on the log's clock (Unix ns)."""
        return log_clock(self.events(kinds, start, end), self.start_ns)

    @abstractmethod
    def summary(self) -> LogSummary:
        """What the log holds (from the index where there is one)."""

    @property
    def start_ns(self) -> int | None:
        """The log's start on its clock, in Unix ns: its earliest event time, the origin of relative windows."""
        return self.summary().start_ns

    def window_ns(self, start: TimeBound, end: TimeBound) -> tuple[int | None, int | None]:
        """Absolute Unix-ns bounds of a window given relative seconds or datetimes."""
        origin = None
        bounds = []
        for bound in (start, end):
            if bound is None:
                bounds.append(None)
            elif isinstance(bound, dt.datetime):
                if bound.tzinfo is None:
                    raise ValueError(f"datetime {bound} has no time zone; pass an aware datetime")
                bounds.append(round(bound.timestamp() * 1e9))
            else:
                if origin is None:
                    origin = self.start_ns or 0
                bounds.append(origin + round(float(bound) * 1e9))
        return bounds[0], bounds[1]

    def close(self) -> None:  # noqa: B027 - most formats hold nothing open between reads
        """Release what the log holds open."""

    def __iter__(self) -> Iterator[Event]:
        return self.events()

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


class ClassicLog(Log):
    """A classic log file: a scan of length-prefixed records, sped up by a sidecar index if one matches."""

    format = "classic"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.metadata = {}
        self._summary: LogSummary | None = None
        self._sidecar: _sidecar.Sidecar | bool | None = False  # False: not looked for yet
        self._carry: int | bool | None = False  # False: not looked for yet
        #: The last read's truncation, if the file ends inside a record.
        self.truncation: Truncation | None = None

    @property
    def has_index(self) -> bool:
        return self.sidecar is not None

    @property
    def sidecar(self) -> _sidecar.Sidecar | None:
        """The sidecar index written by `pdlogkit index`, if there is one that matches the file."""
        if self._sidecar is False:
            self._sidecar = _sidecar.load_sidecar(self.path)
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
        reader = ClassicReader(self.path, kinds=kinds)
        yield from reader
        self.truncation = reader.truncation

    @property
    def start_ns(self) -> int | None:
        # The earliest timestamp: without a sidecar that takes a scan (timestamps are only roughly ordered).
        return self.summary().start_ns

    @property
    def carry_ns(self) -> int | None:
        """The time on the log's clock of the events before the first timestamp: that first timestamp."""
        if self._carry is False:
            self._carry = _sidecar.first_time_ns(self.path)
        return self._carry  # type: ignore[return-value]

    def summary(self) -> LogSummary:
        if self._summary is None:
            sidecar = self.sidecar
            size = os.path.getsize(self.path)
            if sidecar is not None:
                self._summary = _from_stats(
                    sidecar.summary,
                    self.path,
                    self.format,
                    size,
                    truncation=_sidecar.truncation_of(sidecar.summary),
                    source="sidecar",
                )
            else:
                builder = SummaryBuilder()
                reader = ClassicReader(self.path, warn=False)
                for t, event in log_clock(reader):
                    builder.add(event.kind, len(event.payload), t)
                self._summary = builder.build(self.path, self.format, size, truncation=reader.truncation)
        return self._summary


def _inside(t: int | None, lo: int | None, hi: int | None) -> bool:
    if t is None:
        return lo is None
    return (lo is None or t >= lo) and (hi is None or t < hi)


def _from_stats(stats: dict[str, Any], path: str, format: str, file_size: int, **extra: Any) -> LogSummary:
    """A `LogSummary` from the statistics an index or sidecar holds."""
    return SummaryBuilder.from_stats(stats).build(path, format, file_size, **extra)


class IndexedLog(Log):
    """An indexed container (`.pdlz`): windows, kinds and the summary come from its index.

    A file without an index (cut short, recorder killed) is read by scanning its
    chunk headers. `lenient` skips corrupt chunks (listed in `problems`) instead of
    raising `LogFormatError` at the first. `verify=False` skips the chunk checksums
    (what mcap's reader does by default), for speed on trusted files.
    """

    format = "indexed"

    def __init__(self, path: str | os.PathLike[str], *, lenient: bool = False, verify: bool = True) -> None:
        self.path = os.fspath(path)
        self.lenient = lenient
        self.reader = IndexedReader(self.path, lenient=lenient, verify=verify)
        #: The metadata of the file's header (source, recorder, time_source, ...).
        self.metadata: dict[str, Any] = self.reader.metadata
        self.truncation: Truncation | None = self.reader.truncation
        self._summary: LogSummary | None = None

    @property
    def indexed(self) -> bool:
        """Whether the file has its index (else it was cut short and its chunks were found by a scan)."""
        return self.reader.indexed

    @property
    def has_index(self) -> bool:
        return self.reader.indexed

    @property
    def problems(self) -> list[str]:
        """Damage found so far, each naming its byte offset."""
        return [str(d) for d in self.reader.problems] + (
            [] if self.indexed else [f"byte {self.reader.data_end}: no index (the file was not closed properly)"]
        )

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
            summary.problems = self.problems
            self._summary = summary
        return self._summary

    def close(self) -> None:
        self.reader.close()


class LogWriter(Protocol):
    """What every log writer offers; `open_writer` returns one."""

    format: str
    path: str | None
    bytes_written: int
    events_written: int

    def write(self, payload: bytes, received_ns: int | None = None) -> None: ...
    def flush(self) -> None: ...
    def sync(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> LogWriter: ...
    def __exit__(self, *exc: object) -> None: ...


def format_for(path: str | os.PathLike[str], format: str | None = None) -> str:
    """The format a log written to `path` gets: `format` if given, else by extension."""
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"unknown log format {format!r}; choose from {', '.join(FORMATS)}")
        return format
    return "indexed" if Path(path).suffix.lower() == INDEXED_SUFFIX else "classic"


def open_writer(
    path: str | os.PathLike[str],
    format: str | None = None,
    *,
    metadata: dict[str, Any] | None = None,
) -> LogWriter:
    """Open a new log for writing; the format comes from the extension unless `format` says.

    `metadata` (source URI, recorder, notes, ...) goes into a container's header;
    the classic format has no place for it.
    """
    if format_for(path, format) == "indexed":
        return IndexedWriter(path, metadata=metadata)
    return ClassicWriter(path)


def open_log(path: str | os.PathLike[str], *, lenient: bool = False) -> Log:
    """Open a log of any format for reading; the format is detected from its content.

    `lenient` (containers) skips corrupt chunks instead of raising at the first.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:  # a missing or unreadable file raises OSError here, not later
        magic = f.read(len(MAGIC))
    if is_container(magic) or (magic and MAGIC.startswith(magic)):  # a container cut inside its magic is one too
        return IndexedLog(path, lenient=lenient)
    return ClassicLog(path)
