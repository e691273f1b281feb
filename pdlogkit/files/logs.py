"""The logs `open_log` opens, one class per format and source: classic, container, stream.

Each implements the whole `pdlogkit.log.Log` interface, so no caller asks which
format a log is in. (MCAP logs are in `files/mcap.py`; remote files are read by the
same classes through a remote `Source`.)
"""

from __future__ import annotations

import datetime as dt
import io
import os
import warnings
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from ..errors import FullScanWarning, LogFormatError, LogReadError
from ..events import Event, check_kinds
from ..formats.common import Damage, Truncation
from ..formats.container import FILE_HEAD_SIZE, MAGIC, Extras, apply_metadata, decode_header, header_size_needed
from ..log import ORDER_SLACK_NS, Log, Progress, TimeBound
from ..markers import Marker
from ..reports import VerifyReport
from ..summary import LogSummary, SummaryBuilder
from ..timeline import first_time_back, log_clock
from . import metafile
from . import sidecar as _sidecar
from .classic import ClassicReader
from .indexed import IndexedReader, read_indexed_stream
from .remote import RemoteSource
from .sources import FileSource, Source
from .streams import Prefetched, interruptible, read_up_to
from .verify import check_events, verify_classic, verify_container


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
        if local:
            self.metadata, self._markers = metafile.read_metafile(self.path)
        else:
            self.metadata, self._markers = metafile.read_metafile_beside(self.source)
        self._local = local
        self._warned = False
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

    def build_index(
        self, progress: Progress = None, out: str | os.PathLike[str] | None = None, *, overwrite: bool = False
    ) -> str | None:
        if out is None and not self._local:
            raise ValueError(
                f"{self.path}: a sidecar index is written beside a local file only; write it elsewhere "
                f"(--out) and put it beside the log as {os.path.basename(self.path)}{_sidecar.SUFFIX}"
            )
        self._sidecar = False  # looked for again after this
        if out is None:
            return _sidecar.write_sidecar(self.path, overwrite=overwrite, progress=progress)
        return _sidecar.write_sidecar(self.source, out=out, overwrite=overwrite, progress=progress)

    @property
    def problems(self) -> list[Damage]:
        return list(self._problems)

    @property
    def sidecar(self) -> _sidecar.Sidecar | None:
        """The sidecar index written by `pdlogkit index`, if there is one that matches the file."""
        if self._sidecar is False:
            self._sidecar = (
                _sidecar.load_sidecar(self.path) if self._local else _sidecar.load_sidecar_beside(self.source)
            )
        return self._sidecar  # type: ignore[return-value]

    def _scanning(self) -> None:
        """A remote log without a sidecar is about to be read front to back for what a sidecar would answer."""
        if isinstance(self.source, RemoteSource) and not self._warned:
            self._warned = True
            warnings.warn(
                f"{self.path}: no sidecar index beside it ({os.path.basename(self.path)}{_sidecar.SUFFIX}): "
                "reading it front to back",
                FullScanWarning,
                stacklevel=4,
            )

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
            for t, event in _sidecar.window_events(self.source, sidecar, lo, hi):
                if (wanted is None or event.kind in wanted) and _inside(t, lo, hi):
                    yield t, event
            return
        # Times must be carried over events of every kind, so filter kinds after timing.
        if lo is not None or hi is not None:
            self._scanning()
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
                self._scanning()
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

    def build_index(
        self, progress: Progress = None, out: str | os.PathLike[str] | None = None, *, overwrite: bool = False
    ) -> str | None:
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

    markers_known = False

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
        return (event for _, event in self.timed_events(kinds, start, end))

    def timed_events(
        self, kinds: Iterable[str] | None = None, start: TimeBound = None, end: TimeBound = None
    ) -> Iterator[tuple[int | None, Event]]:
        wanted = check_kinds(kinds)
        if any(b is not None and not isinstance(b, dt.datetime) for b in (start, end)):
            raise ValueError(f"{self.path} is a stream: give the window as date-times, not seconds from its start")
        lo, hi = self.window_ns(start, end)
        return self._timed(wanted, lo, hi)

    def _timed(
        self, wanted: frozenset[str] | None, lo: int | None, hi: int | None
    ) -> Iterator[tuple[int | None, Event]]:
        stream = self._take()
        if self.format == "indexed":  # every record holds its receive time
            events = read_indexed_stream(
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
            yield from ((event.received_ns, event) for event in events)
            self.truncation = self._cuts[0] if self._cuts else None
            for extras in self._extras:
                apply_metadata(self.metadata, extras.metadata)
            return
        # Times are carried over events of every kind (the leading untimed ones take the first), then filtered.
        reader = ClassicReader(stream, lenient=self.lenient)
        timed = first_time_back(log_clock(reader))
        for t, event in timed if lo is None and hi is None else _filter_timed(timed, lo, hi):
            if wanted is None or event.kind in wanted:
                yield t, event
        self.truncation = reader.truncation
        if reader.damage is not None:
            self._problems.append(reader.damage)

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


__all__ = ["ClassicLog", "IndexedLog", "StreamLog"]
