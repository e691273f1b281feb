"""What the recorder does with each event, free of networking: filters, pre-roll, segments.

`SegmentKeeper` is fed events and connection changes by a transport (the
websocket loop in `recorder.py`) and owns the open log writer of the current
segment. It never raises out of `on_event`: a write error (disk full, ...) is
kept and reported by the next call that asks for it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import RecorderStateError, RecordingFailed
from ..events import check_kinds, kind_of
from ..files.background import BackgroundWriter
from ..log import open_writer

#: Default bound on the pre-roll buffer's size, whatever its duration.
PRE_ROLL_MAX_BYTES = 256 * 1024 * 1024
#: The longest pre-roll taken, in seconds (a day: memory bounds it long before).
MAX_PRE_ROLL = 86400.0


@dataclass
class SegmentSummary:
    """What one recorded segment holds. Times are Unix seconds on the recorder's clock."""

    path: str
    format: str
    events: int = 0
    bytes: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    stopped: float | None = None
    first_time: float | None = None
    last_ns: int | None = field(default=None, repr=False)
    pre_roll_events: int = 0
    reconnects: int = 0
    gaps: list[tuple[float, float]] = field(default_factory=list)

    @property
    def last_time(self) -> float | None:
        """Receive time of the last event, Unix seconds."""
        return None if self.last_ns is None else self.last_ns / 1e9

    @property
    def duration(self) -> float:
        """Seconds from start() to stop()."""
        return (self.stopped or time.time()) - self.started

    @property
    def gap_seconds(self) -> float:
        """Seconds of the segment without a connection to the gateway."""
        return sum(end - start for start, end in self.gaps)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        data = dict(vars(self))
        del data["last_ns"]
        data.update(last_time=self.last_time, duration=self.duration, gap_seconds=self.gap_seconds)
        return data


class SegmentKeeper:
    """Routes events to the current segment's writer, or to the pre-roll buffer while idle."""

    def __init__(
        self,
        *,
        include: Any = None,
        exclude: Any = None,
        pre_roll: float = 0.0,
        pre_roll_max_bytes: int = PRE_ROLL_MAX_BYTES,
        metadata: dict[str, Any] | None = None,
        overwrite: bool = False,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.include = check_kinds(include, "include")
        self.exclude = check_kinds(exclude, "exclude") or frozenset()
        if not (isinstance(pre_roll, int | float) and 0 <= pre_roll <= MAX_PRE_ROLL) or pre_roll_max_bytes < 0:
            raise ValueError(
                f"pre_roll must be from 0 to {MAX_PRE_ROLL:g} seconds and pre_roll_max_bytes >= 0, not {pre_roll!r}"
            )
        self._pre_roll_ns = round(pre_roll * 1e9)
        self._pre_roll_max = pre_roll_max_bytes
        self._buffer: deque[tuple[int, bytes]] = deque()
        self._buffered_bytes = 0
        self._metadata = dict(metadata or {})
        self._overwrite = overwrite
        self._clock = clock
        self._writer: BackgroundWriter | None = None
        self._summary: SegmentSummary | None = None
        self._error: RecordingFailed | None = None
        self._dirty = False
        self._down_since: float | None = self._now()  # not connected until told otherwise

    def _now(self) -> float:
        return self._clock() / 1e9

    @property
    def recording(self) -> bool:
        """Whether a segment is open."""
        return self._writer is not None

    @property
    def current(self) -> SegmentSummary | None:
        """The summary so far of the open segment, if any."""
        return self._summary

    def wanted(self, kind: str) -> bool:
        """Whether include/exclude let events of this kind through."""
        return (self.include is None or kind in self.include) and kind not in self.exclude

    def on_event(self, payload: bytes, received_ns: int) -> None:
        """Take one event from the gateway."""
        kind = kind_of(payload)
        if not self.wanted(kind):
            return
        if self._writer is not None:
            self._write(payload, received_ns, kind)
        elif self._pre_roll_ns:
            self._buffer.append((received_ns, payload))
            self._buffered_bytes += len(payload)
            self._trim(received_ns)

    def _trim(self, now_ns: int) -> None:
        horizon = now_ns - self._pre_roll_ns
        buffer = self._buffer
        while buffer and (buffer[0][0] < horizon or self._buffered_bytes > self._pre_roll_max):
            self._buffered_bytes -= len(buffer.popleft()[1])

    def _write(self, payload: bytes, received_ns: int, kind: str) -> None:
        writer, summary = self._writer, self._summary
        assert writer is not None and summary is not None
        try:
            writer.write(payload, received_ns)
        except Exception as exc:  # disk full, I/O error, ...: keep what is written, report at the next call
            self._fail(exc)
            return
        self._dirty = True
        if summary.first_time is None:
            summary.first_time = received_ns / 1e9
        summary.last_ns = received_ns
        summary.events += 1
        summary.bytes += len(payload)
        counts = summary.counts
        counts[kind] = counts.get(kind, 0) + 1

    def _fail(self, exc: BaseException) -> None:
        summary = self._summary
        writer = self._writer
        self._writer = None
        self._summary = None
        if writer is not None:
            with contextlib.suppress(Exception):  # the first error is the one to report
                writer.close()
        if summary is not None:
            summary.stopped = self._now()
            if writer is not None:  # what is in the file, not what was queued
                summary.events = writer.events_in_file
                summary.bytes = writer.bytes_in_file
                summary.counts = writer.counts_in_file
        path = summary.path if summary else "the log"
        reason = f"{exc.strerror} ({exc.__class__.__name__})" if isinstance(exc, OSError) else repr(exc)
        self._error = RecordingFailed(
            f"recording to {path} stopped: {reason}; what reached the file before the error is intact",
            summary,
        )
        self._error.__cause__ = exc

    @property
    def failed(self) -> bool:
        """Whether an error of the background recording waits to be raised."""
        return self._error is not None

    @property
    def error(self) -> str | None:
        """The message of the error waiting to be raised, if any."""
        return None if self._error is None else str(self._error)

    def raise_error(self) -> None:
        """Raise (once) an error the background recording hit since the last call."""
        error, self._error = self._error, None
        if error is not None:
            raise error

    def start(self, path: str | os.PathLike[str], format: str | None = None) -> None:
        """Open a new segment at `path`, writing the pre-roll buffer first."""
        self.raise_error()
        if self._writer is not None:
            assert self._summary is not None
            raise RecorderStateError(f"already recording to {self._summary.path}; call stop() first")
        now = self._now()
        metadata = {**self._metadata, "start_time": now}
        try:
            writer = BackgroundWriter(
                open_writer(path, format, metadata=metadata, atomic=False, overwrite=self._overwrite)
            )
        except OSError as exc:
            raise RecordingFailed(f"cannot open {os.fspath(path)} for writing: {exc.strerror}") from exc
        self._writer = writer
        self._summary = SegmentSummary(path=os.fspath(path), format=writer.format, started=now)
        if self._down_since is not None:
            self._summary.gaps.append((now, now))  # a gap open at the start; closed on reconnect
        self._trim(self._clock())  # a quiet stretch may have left older events in the buffer
        buffered, self._buffer = self._buffer, deque()
        self._buffered_bytes = 0
        for received_ns, payload in buffered:
            self._write(payload, received_ns, kind_of(payload))
        if self._summary is not None:
            self._summary.pre_roll_events = self._summary.events
        self.raise_error()

    def detach(self) -> tuple[BackgroundWriter, SegmentSummary]:
        """End the current segment: hand back its writer (to be closed by the caller) and summary."""
        self.raise_error()
        if self._writer is None or self._summary is None:
            raise RecorderStateError("not recording; call start() first")
        writer, summary = self._writer, self._summary
        self._writer = self._summary = None
        summary.stopped = self._now()
        if self._down_since is not None and summary.gaps:
            summary.gaps[-1] = (summary.gaps[-1][0], summary.stopped)
        return writer, summary

    def flush(self) -> None:
        """Hand what was written to the operating system (called at least once a second)."""
        if self._writer is not None and self._dirty:
            try:
                self._writer.flush()
            except Exception as exc:
                self._fail(exc)
            self._dirty = False

    def disconnected(self) -> None:
        """The connection to the gateway dropped (the pre-roll is kept: its time bound still holds)."""
        if self._down_since is None:
            self._down_since = self._now()
            if self._summary is not None:
                self._summary.gaps.append((self._down_since, self._down_since))

    def connected(self) -> None:
        """The connection to the gateway is (re-)established: a segment's open gap ends."""
        if self._down_since is None:
            return
        self._down_since = None
        if self._summary is not None and self._summary.gaps:
            start, _ = self._summary.gaps[-1]
            self._summary.gaps[-1] = (start, self._now())
            self._summary.reconnects += 1
