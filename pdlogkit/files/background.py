"""A log writer that writes in a thread of its own, so a receive loop never waits on the disk."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..log import LogWriter
from ..markers import Marker

#: Bytes waiting for the disk before `write()` makes the caller wait (back-pressure).
MAX_PENDING_BYTES = 64 * 1024 * 1024
#: The thread is woken once this much is queued (or at `flush()`), not for every
#: event: a wake-up per event would cost a GIL hand-over each time.
WAKE_BYTES = 1024 * 1024
WAKE_EVENTS = 1000


class _Call:
    """A call on the wrapped writer, queued between events so it happens in order (a marker, a metadata update)."""

    __slots__ = ("apply",)

    def __init__(self, apply: Callable[[Any], None]) -> None:
        self.apply = apply

    def __len__(self) -> int:
        return 0  # holds no event bytes


class BackgroundWriter:
    """Wraps a `LogWriter`: `write()` only queues; a thread writes batches in order.

    The file system calls release the GIL, so receiving and writing overlap. An
    error of the thread (disk full, ...) is raised by the next call; what reached
    the file before it stays there, and what was still queued is dropped.
    """

    def __init__(self, writer: LogWriter, *, max_pending_bytes: int = MAX_PENDING_BYTES) -> None:
        self._writer: Any = writer
        self.format = writer.format
        self.path = writer.path
        self._max_pending = max_pending_bytes
        self._pending: list[tuple[bytes | _Call, int | None]] = []
        self._pending_bytes = 0
        self._flush_wanted = False
        self._closing = False
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the thread waits for work
        self._drained = threading.Condition(self._lock)  # callers wait for the queue to empty
        self.events_written = 0
        self.bytes_written = 0
        self._thread = threading.Thread(target=self._run, name=f"pdlogkit-writer {self.path}", daemon=True)
        self._thread.start()

    def write(self, payload: bytes, received_ns: int | None = None) -> None:
        """Queue one event (waits only when `max_pending_bytes` are already queued)."""
        with self._lock:
            self._raise_error()
            if self._closing:
                raise ValueError(f"write to a closed log writer ({self.path})")
            pending = self._pending
            pending.append((payload, received_ns))
            self._pending_bytes += len(payload)
            full = self._pending_bytes > self._max_pending
            if full or self._pending_bytes >= WAKE_BYTES or len(pending) >= WAKE_EVENTS:
                self._work.notify()
            while self._pending_bytes > self._max_pending and self._error is None:
                self._drained.wait()

    def add_marker(self, marker: Marker) -> None:
        """Queue a marker, after the events queued so far."""
        self._queue(_Call(lambda writer: writer.add_marker(marker)))

    def update_metadata(self, update: dict[str, Any]) -> None:
        """Queue a metadata update (see the wrapped writer's `update_metadata`), after the events queued so far."""
        self._queue(_Call(lambda writer: writer.update_metadata(update)))

    def _queue(self, call: _Call) -> None:
        with self._lock:
            self._raise_error()
            if self._closing:
                raise ValueError(f"write to a closed log writer ({self.path})")
            self._pending.append((call, None))

    def flush(self) -> None:
        """Ask the thread to write what is queued and hand it to the operating system (does not wait)."""
        with self._lock:
            self._raise_error()
            self._flush_wanted = True
            self._work.notify()

    def close(self) -> None:
        """Write everything queued and close the wrapped writer (it syncs)."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._work.notify()
        self._thread.join()
        error, self._error = self._error, None
        try:
            self._writer.close()
        finally:
            if error is not None:
                raise error

    def abort(self) -> None:
        """Stop the thread (dropping what is queued) and give up the wrapped writer."""
        with self._lock:
            self._closing = True
            self._pending = []
            self._pending_bytes = 0
            self._work.notify()
        self._thread.join()
        self._writer.abort()

    @property
    def events_in_file(self) -> int:
        """Events whose bytes reached the file whole (exact after a failure, once closed)."""
        return int(self._writer.events_in_file)

    @property
    def bytes_in_file(self) -> int:
        """Bytes of those events' records (or chunks)."""
        return int(self._writer.bytes_in_file)

    @property
    def counts_in_file(self) -> dict[str, int]:
        """Those events, counted by kind."""
        return dict(self._writer.counts_in_file)

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        writer = self._writer
        while True:
            with self._lock:
                while not self._pending and not self._flush_wanted and not self._closing:
                    self._work.wait()
                batch, self._pending = self._pending, []
                flush, self._flush_wanted = self._flush_wanted, False
                closing = self._closing
            try:
                for payload, received_ns in batch:
                    if type(payload) is _Call:
                        payload.apply(writer)
                    else:
                        writer.write(payload, received_ns)
                if flush:
                    writer.flush()
            except BaseException as exc:  # reported to the caller by its next call
                with self._lock:
                    self._error = exc
                    self._pending = []
                    self._pending_bytes = 0
                    self._drained.notify_all()
                return
            with self._lock:
                self.events_written = writer.events_written
                self.bytes_written = writer.bytes_written
                self._pending_bytes -= sum(len(p) for p, _ in batch)
                self._drained.notify_all()
                if closing and not self._pending:
                    return

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
