"""What the recorder does with each event it keeps, free of networking: filters, pre-roll, the segment's file.

`SegmentKeeper` is fed events and connection changes by a transport (the
websocket loop in `engine.py`), directly or through an activity mode
(`record/activity.py`), and owns the open log writer of the current segment. It
never raises out of `on_event`: a write error (disk full, ...) is kept and
reported by the next call that asks for it.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..activity import Window
from ..errors import RecorderStateError, RecordingFailed
from ..events import Event, check_kinds, kind_of
from ..files.background import BackgroundWriter
from ..log import open_writer
from ..markers import Marker

#: Default bound on the pre-roll buffer's size, whatever its duration.
PRE_ROLL_MAX_BYTES = 256 * 1024 * 1024
#: The longest pre-roll taken, in seconds (a day: memory bounds it long before).
MAX_PRE_ROLL = 86400.0


@dataclass
class SegmentSummary:
    """What one recorded segment holds. Times are Unix seconds on the recorder's clock.

    With activity (`frames="activity"`, bursts), `frames_kept` / `frames_dropped`
    count camera images written and left out, `bytes_dropped` the payload bytes left
    out, and `windows` the periods of activity it holds, (start, end) with their
    pre- and post-roll.
    """

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
    markers: int = 0
    frames_kept: int = 0
    frames_dropped: int = 0
    bytes_dropped: int = 0
    windows: list[tuple[float, float]] = field(default_factory=list)

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
    """Routes events to the current segment's writer, or to the pre-roll buffer while idle.

    `metadata` goes into each segment's header; `update_metadata` changes it for
    the open segment (a container stores the update inside the file) and the next
    ones. `on_event` is called with each event written.
    """

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
        on_event: Callable[[Event], None] | None = None,
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
        self._on_event = on_event
        #: Why the `on_event` callback was disabled, if it failed.
        self.callback_error: str | None = None
        self._writer: BackgroundWriter | None = None
        self._summary: SegmentSummary | None = None
        self._windows: dict[int, Window] = {}  # of the open segment, by number
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

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata the next segment's header gets."""
        return dict(self._metadata)

    def wanted(self, kind: str) -> bool:
        """Whether include/exclude let events of this kind through."""
        return (self.include is None or kind in self.include) and kind not in self.exclude

    def on_event(self, payload: bytes, received_ns: int) -> None:
        """Take one event from the gateway."""
        kind = kind_of(payload)
        if self.wanted(kind):
            self.accept(payload, received_ns, kind)

    def accept(self, payload: bytes, received_ns: int, kind: str, window: Window | None = None) -> None:
        """Keep one event that passed the filters (and an activity mode): write it, or buffer it while idle."""
        if self._writer is not None:
            self._write(payload, received_ns, kind)
            if window is not None:
                self._windows[window.number] = window
        elif self._pre_roll_ns:
            self._buffer.append((received_ns, payload))
            self._buffered_bytes += len(payload)
            self._trim(received_ns)

    def dropped(self, kind: str, size: int) -> None:
        """Count an event an activity mode left out of the open segment."""
        summary = self._summary
        if summary is not None:
            summary.bytes_dropped += size
            if kind == "image":
                summary.frames_dropped += 1

    def add_marker(self, marker: Marker) -> None:
        """Add a marker to the open segment (a container holds it inside; a classic log in its sidecar)."""
        if self._writer is None or self._summary is None:
            raise RecorderStateError("not recording: a marker needs an open segment")
        try:
            self._writer.add_marker(marker)
        except Exception as exc:
            self._fail(exc)
            return
        self._summary.markers += 1

    def update_metadata(self, update: dict[str, Any]) -> None:
        """Change the metadata (None removes a key) of the open segment and the next ones."""
        for key, value in update.items():
            if value is None:
                self._metadata.pop(key, None)
            else:
                self._metadata[key] = value
        if self._writer is not None:
            try:
                self._writer.update_metadata(update)
            except Exception as exc:
                self._fail(exc)

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
        if kind == "image":
            summary.frames_kept += 1
        if self._on_event is not None:
            self._call_back(Event(payload, received_ns=received_ns, kind=kind))

    def _call_back(self, event: Event) -> None:
        assert self._on_event is not None
        try:
            self._on_event(event)
        except Exception as exc:  # the caller's bug must not cost the recording
            self._on_event = None
            self.callback_error = f"on_event callback failed and was disabled: {exc!r}"
            warnings.warn(self.callback_error, RuntimeWarning, stacklevel=1)

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
            self._close_windows(summary)
            if writer is not None:  # what is in the file, not what was queued
                summary.events = writer.events_in_file
                summary.bytes = writer.bytes_in_file
                summary.counts = writer.counts_in_file
                summary.frames_kept = summary.counts.get("image", 0)
        path = summary.path if summary else "the log"
        reason = f"{exc.strerror} ({exc.__class__.__name__})" if isinstance(exc, OSError) else repr(exc)
        self.report(
            RecordingFailed(
                f"recording to {path} stopped: {reason}; what reached the file before the error is intact",
                summary,
            ),
            exc,
        )

    def report(self, error: RecordingFailed, cause: BaseException | None = None) -> None:
        """Keep an error to raise at the next call (the first one kept wins)."""
        if cause is not None:
            error.__cause__ = cause
        if self._error is None:
            self._error = error

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
        self._windows = {}
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

    def discard_buffer(self) -> None:
        """Forget the pre-roll buffer."""
        self._buffer.clear()
        self._buffered_bytes = 0

    def detach(self, *, check: bool = True) -> tuple[BackgroundWriter, SegmentSummary]:
        """End the current segment: hand back its writer (to be closed by the caller) and summary.

        An error waiting to be reported is raised first, unless `check` is false.
        """
        if check:
            self.raise_error()
        if self._writer is None or self._summary is None:
            raise RecorderStateError("not recording; call start() first")
        writer, summary = self._writer, self._summary
        self._writer = self._summary = None
        summary.stopped = self._now()
        self._close_windows(summary)
        if self._down_since is not None and summary.gaps:
            summary.gaps[-1] = (summary.gaps[-1][0], summary.stopped)
        return writer, summary

    def _close_windows(self, summary: SegmentSummary) -> None:
        summary.windows = [(w.start_ns / 1e9, w.end_ns / 1e9) for _, w in sorted(self._windows.items())]
        self._windows = {}

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
