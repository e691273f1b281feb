"""Read-ahead off the event loop: a thread per playback position fills a bounded buffer the loop takes from.

Reading a log means disk reads, zstd and record parsing: milliseconds at times, too
long to spend on the loop that must send each event on time. A `ReadAhead` opens its
own handle on the log in a thread of its own, finds the position (the device state
there and the first event: a seek), then keeps up to `max_events` events and
`max_bytes` bytes ready. The loop only ever takes from memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import PdlogkitError, ReplayError
from ..events import Event
from .state import DeviceState

if TYPE_CHECKING:
    from .playback import Source

#: What a read-ahead keeps ready: about a second of a camera stream, hundreds of sensor events.
MAX_EVENTS = 512
MAX_BYTES = 2 * 1024 * 1024


class ReadAhead:
    """The events of one playback from a position, read by a thread into a bounded buffer.

    Created on the event loop; `ready` resolves once the thread has found the
    position (`state` and `position_ns` are then set) or fails with the reason.
    `take()` hands out the next event without waiting; when it has none, `wait()`
    returns when there are more or the log is at its end (`finished`). A log that
    cannot be read raises its `PdlogkitError` from `take()` once the events before the
    damage are taken. `close()` lets go at once; the thread closes its log handle
    itself and ends within one event's read (`join()` waits for that).
    """

    def __init__(
        self,
        source: Source,
        seconds: float,
        *,
        max_events: int = MAX_EVENTS,
        max_bytes: int = MAX_BYTES,
        on_data: Callable[[], None] | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = self._loop.create_future()
        self.ready.add_done_callback(_retrieved)  # a failure nobody awaited (closed meanwhile) is no warning
        self.state = DeviceState()
        self.position_ns = round(seconds * 1e9)
        self.on_data = on_data
        self._source = source
        self._seconds = seconds
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._lock = threading.Condition()
        self._items: deque[tuple[int, Event]] = deque()
        self._bytes = 0
        self._done = False  # the thread has read all it will
        self._error: BaseException | None = None
        self._closed = False
        self._wanted = False  # the loop waits for data: tell it when some comes
        self._thread = threading.Thread(target=self._run, name="pdlogkit-replay-read", daemon=True)
        self._thread.start()

    # --- the reading thread ----------------------------------------------------

    def _run(self) -> None:
        try:
            cursor = self._source.prepare(self._seconds)
        except BaseException as exc:
            self._finish(exc, ready=True)
            return
        try:
            self.state, self.position_ns = cursor.state, cursor.position_ns
            self._call(_resolve, self.ready)
            for item in itertools.chain(cursor.head, cursor.items):
                if not self._put(item):
                    break
                time.sleep(0)  # hand the GIL to the loop between events: never hold it for a whole chunk
        except BaseException as exc:
            self._finish(exc)
            return
        finally:
            self._source.close(cursor)
        self._finish(None)

    def _put(self, item: tuple[int, Event]) -> bool:
        """Keep an event, waiting for room; False once closed."""
        size = len(item[1].payload)
        with self._lock:
            while not self._closed and (len(self._items) >= self._max_events or self._bytes >= self._max_bytes):
                self._lock.wait()
            if self._closed:
                return False
            self._items.append(item)
            self._bytes += size
            wanted, self._wanted = self._wanted, False
        if wanted:
            self._call(self._wake)
        return True

    def _finish(self, error: BaseException | None, ready: bool = False) -> None:
        if error is not None and not isinstance(error, PdlogkitError | ReplayError):
            error = ReplayError(f"cannot read the log: {type(error).__name__}: {error}")
        with self._lock:
            self._done = True
            self._error = error
        if ready:
            self._call(_fail, self.ready, error)
        self._call(self._wake)

    def _call(self, fn: Callable[..., None], *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(fn, *args)

    # --- the event loop's side -------------------------------------------------

    def _wake(self) -> None:
        if self.on_data is not None:
            self.on_data()

    def take(self) -> tuple[int, Event] | None:
        """The next event and its position, or None when none is ready (see `finished`)."""
        with self._lock:
            if self._items:
                item = self._items.popleft()
                self._bytes -= len(item[1].payload)
                self._lock.notify()
                return item
            if self._done and self._error is not None and not self._closed:
                error, self._error = self._error, None
                raise error
            self._wanted = True
            return None

    @property
    def finished(self) -> bool:
        """Whether every event was taken and the thread has ended (the end of the log, or of the window)."""
        with self._lock:
            return self._done and not self._items and self._error is None

    def close(self) -> None:
        """Stop reading (without waiting: the thread ends within one event's read and closes its handle)."""
        with self._lock:
            self._closed = True
            self._items.clear()
            self._bytes = 0
            self._lock.notify_all()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


def _fail(future: asyncio.Future[None], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
