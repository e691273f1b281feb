"""`open_log`: one reading API over every log format, and `open_writer` to write one."""

from __future__ import annotations

import datetime as dt
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .errors import LogFormatError
from .events import KINDS, Event, check_kinds
from .files.classic import ClassicReader, ClassicWriter
from .formats.classic import Truncation
from .timeline import log_clock

#: A stretch with no event at all longer than this counts as a gap in a summary.
GAP_NS = 2_000_000_000

#: Timestamps of different kinds are only roughly ordered: a time window of a log
#: read without an index keeps scanning this far past its end.
ORDER_SLACK_NS = 10_000_000_000

TimeBound = float | int | dt.datetime | None

FORMATS = ("classic", "indexed")
INDEXED_SUFFIX = ".pdlz"


@dataclass
class LogSummary:
    """What a log holds: time span, counts, sizes and rates per kind, gaps."""

    path: str
    format: str
    file_size: int
    events: int = 0
    start_ns: int | None = None
    end_ns: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    gaps: list[tuple[float, float]] = field(default_factory=list)
    time_source: str = "timestamps"
    truncation: Truncation | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Seconds from the first to the last event's time (0 for an untimed log)."""
        if self.start_ns is None or self.end_ns is None:
            return 0.0
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def start(self) -> dt.datetime | None:
        """The first event's time as an aware UTC datetime."""
        return _datetime(self.start_ns)

    @property
    def end(self) -> dt.datetime | None:
        """The last event's time as an aware UTC datetime."""
        return _datetime(self.end_ns)

    @property
    def payload_bytes(self) -> int:
        """Bytes of event payloads, all kinds together."""
        return sum(self.sizes.values())

    @property
    def classic_size(self) -> int:
        """Bytes the same events take in the classic format."""
        return self.payload_bytes + 4 * self.events

    @property
    def compression_ratio(self) -> float:
        """Classic size over file size: how much smaller than classic this file is."""
        return self.classic_size / self.file_size if self.file_size else 1.0

    @property
    def rates(self) -> dict[str, float]:
        """Events per second of each kind over the log's duration."""
        seconds = self.duration
        return {k: (n / seconds if seconds else 0.0) for k, n in self.counts.items()}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary, for `info --json` and scripts."""
        data = asdict(self)
        data["truncation"] = asdict(self.truncation) if self.truncation else None
        data.update(
            duration=self.duration,
            start=self.start.isoformat() if self.start else None,
            end=self.end.isoformat() if self.end else None,
            payload_bytes=self.payload_bytes,
            compression_ratio=self.compression_ratio,
            rates=self.rates,
        )
        return data


def _datetime(ns: int | None) -> dt.datetime | None:
    return None if ns is None else dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc)


class SummaryBuilder:
    """Accumulates a `LogSummary` from events in log order (pure; used by scans and writers)."""

    def __init__(self) -> None:
        self.events = 0
        self.counts: dict[str, int] = {}
        self.sizes: dict[str, int] = {}
        self.start_ns: int | None = None
        self.end_ns: int | None = None
        self.gaps_ns: list[tuple[int, int]] = []

    def add(self, kind: str, size: int, t_ns: int | None) -> None:
        """Count one event of `kind` and `size` payload bytes at log time `t_ns` (None: untimed)."""
        self.events += 1
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.sizes[kind] = self.sizes.get(kind, 0) + size
        if t_ns is None:
            return
        if self.start_ns is None:
            self.start_ns = self.end_ns = t_ns
        elif t_ns > self.end_ns:  # type: ignore[operator]
            if t_ns - self.end_ns > GAP_NS:  # type: ignore[operator]
                self.gaps_ns.append((self.end_ns, t_ns))  # type: ignore[arg-type]
            self.end_ns = t_ns

    def build(self, path: str, format: str, file_size: int, **extra: Any) -> LogSummary:
        """The summary of everything added so far."""
        start = self.start_ns or 0
        gaps = [((a - start) / 1e9, (b - start) / 1e9) for a, b in self.gaps_ns]
        order = {k: i for i, k in enumerate(KINDS)}
        counts = dict(sorted(self.counts.items(), key=lambda kv: order.get(kv[0], len(order))))
        return LogSummary(
            path=path,
            format=format,
            file_size=file_size,
            events=self.events,
            start_ns=self.start_ns,
            end_ns=self.end_ns,
            counts=counts,
            sizes={k: self.sizes[k] for k in counts},
            gaps=gaps,
            **extra,
        )


class Log(ABC):
    """A log file opened for reading, whatever its format. Iterating it yields every event."""

    path: str
    format: str

    @abstractmethod
    def events(
        self, kinds: Iterable[str] | None = None, start: TimeBound = None, end: TimeBound = None
    ) -> Iterator[Event]:
        """Events in log order, optionally only some kinds and a time window.

        `start`/`end` are seconds from the log's start, or absolute datetimes; the
        window holds events whose log time t has start <= t < end.
        """

    @abstractmethod
    def summary(self) -> LogSummary:
        """What the log holds (from the index where there is one)."""

    @property
    def start_ns(self) -> int | None:
        """The log's start time on its clock, in Unix ns."""
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


def filter_window(
    timed: Iterable[tuple[int | None, Event]], lo: int | None, hi: int | None, slack_ns: int = ORDER_SLACK_NS
) -> Iterator[Event]:
    """Events whose time is within [lo, hi); stops once times pass hi by `slack_ns`."""
    for t, event in timed:
        if t is None:
            if lo is None:
                yield event
            continue
        if hi is not None and t >= hi:
            if t >= hi + slack_ns:
                return
            continue
        if lo is None or t >= lo:
            yield event


class ClassicLog(Log):
    """A classic log file: a scan of length-prefixed records."""

    format = "classic"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._summary: LogSummary | None = None
        #: The last read's truncation, if the file ends inside a record.
        self.truncation: Truncation | None = None

    def events(
        self, kinds: Iterable[str] | None = None, start: TimeBound = None, end: TimeBound = None
    ) -> Iterator[Event]:
        wanted = check_kinds(kinds)
        if start is None and end is None:
            yield from self._reader(wanted)
            return
        lo, hi = self.window_ns(start, end)
        # Times must be carried over events of every kind, so filter kinds after timing.
        reader = self._reader(None)
        timed = log_clock(reader, self.start_ns)
        for event in filter_window(timed, lo, hi):
            if wanted is None or event.kind in wanted:
                yield event

    def _reader(self, kinds: frozenset[str] | None) -> Iterator[Event]:
        reader = ClassicReader(self.path, kinds=kinds)
        yield from reader
        self.truncation = reader.truncation

    @property
    def start_ns(self) -> int | None:
        if self._summary is not None:
            return self._summary.start_ns
        for event in ClassicReader(self.path, warn=False):
            if event.time_ns is not None:
                return event.time_ns
        return None

    def summary(self) -> LogSummary:
        if self._summary is None:
            builder = SummaryBuilder()
            reader = ClassicReader(self.path, warn=False)
            for event in reader:
                builder.add(event.kind, len(event.payload), event.time_ns)
            self._summary = builder.build(
                self.path, self.format, os.path.getsize(self.path), truncation=reader.truncation
            )
        return self._summary


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
    """Open a new log for writing; the format comes from the extension unless `format` says."""
    if format_for(path, format) == "indexed":
        raise LogFormatError("the indexed container format is not available yet", path=path)
    return ClassicWriter(path)


def open_log(path: str | os.PathLike[str]) -> Log:
    """Open a log of any format for reading; the format is detected from its content."""
    path = os.fspath(path)
    with open(path, "rb"):  # a missing or unreadable file raises OSError here, not later
        pass
    return ClassicLog(path)
