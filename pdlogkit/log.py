"""`open_log`: one reading API over every log format and source, and `open_writer` to write one.

`Log` is the whole interface callers use: nothing outside `files/` and this
module asks which format a log is in. A log is opened from a path, a seekable
binary file object, or a stream (a pipe, stdin, a FIFO: read once, front to back).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
import stat
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from .errors import LogReadError, WindowError
from .events import Event
from .files.classic import ClassicWriter
from .files.indexed_writer import LEVEL, IndexedWriter
from .files.output import check_sidecars_free, output_for
from .files.remote import RemoteSource, is_url, local_path
from .files.sources import FileObjectSource, FileSource, Source
from .files.streams import open_stream
from .formats.common import Damage, Truncation
from .formats.container import MAGIC
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

    def build_index(
        self, progress: Progress = None, out: str | os.PathLike[str] | None = None, *, overwrite: bool = False
    ) -> str | None:
        """Make the log quick to window: write a classic log's sidecar index and return its path.

        The sidecar goes beside the log, or to `out` (required for a remote log: put the file
        beside the log as `NAME.pdidx`). None when the log has an index of its own;
        `LogFormatError` for a container that lost its index (`recover` makes a proper file of it).
        """
        raise ValueError(f"{self.path} is a stream: save it to a file to index it")

    #: Whether `markers()` is complete before reading (a stream learns its markers as it is read).
    markers_known: bool = True

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
    suffix = Path(path).suffix.lower()
    if suffix == ".mcap":
        raise ValueError(
            f"{os.fspath(path)}: MCAP is written by `pdlogkit convert LOG OUT.mcap` or `pdlogkit export`; "
            "choose .pdlz or a classic name here, or --format"
        )
    return "indexed" if suffix == INDEXED_SUFFIX else "classic"


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
    if chosen == "classic" and path is not None:
        check_sidecars_free(path, overwrite)
    out = output_for(target, overwrite=overwrite, atomic=atomic)
    try:
        if chosen == "indexed":
            return IndexedWriter(out, metadata=metadata, level=level)
        return ClassicWriter(out, metadata=metadata)
    except BaseException:
        out.abort()
        raise


def open_log(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    lenient: bool = False,
    storage_options: dict[str, Any] | None = None,
) -> Log:
    """Open a log of any format for reading; the format is detected from its content.

    `source` is a path, a URL fsspec opens (`https://...`, `s3://bucket/key`, ...;
    `storage_options` are its filesystem's options), a seekable binary file object,
    or a stream (a pipe, stdin: read once, front to back). A remote container is
    read through its index with range requests; a remote classic log uses the
    sidecar index beside it (`URL.pdidx`). A FIFO is read as a stream once a process
    writes into it (`LogReadError` after `FIFO_WAIT` seconds without one, never a hang).
    `lenient` skips corrupt stretches (listed in `Log.problems`) instead of raising
    `LogFormatError` at the first.
    """
    from .files.logs import StreamLog  # the implementations import this module's Log

    if isinstance(source, str) and is_url(source):
        local = local_path(source)
        if local is None:
            return _from_source(RemoteSource(source, storage_options=storage_options), lenient)
        source = local
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
    from .files.logs import ClassicLog, IndexedLog

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


def __getattr__(name: str) -> Any:
    """`ClassicLog`, `IndexedLog` and `StreamLog` live in `pdlogkit.files.logs` (importable here too, as before)."""
    if name in ("ClassicLog", "IndexedLog", "StreamLog"):
        from .files import logs

        return getattr(logs, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
