"""The recorders: one websocket connection to the gateway, segments cut from it.

`AsyncEventRecorder` is the engine, native asyncio with no thread. `EventRecorder`
runs that same engine on a private event loop in a background thread, for plain
scripts:

    rec = EventRecorder("ws://purpledrop:7001")
    for i in range(3):
        rec.start(f"log{i}.bin")
        time.sleep(10.0)
        rec.stop()
        time.sleep(5.0)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .._loop import BackgroundLoop
from .._version import __version__
from ..errors import GatewayUnreachable, RecorderError, RecorderStateError, RecordingFailed
from ..events import Event
from .segments import PRE_ROLL_MAX_BYTES, SegmentKeeper, SegmentSummary

DEFAULT_URI = "ws://localhost:7001"
#: Largest websocket message accepted: camera frames are a few MB at most. The
#: websockets client's own default (1 MiB) would drop the connection on a large frame.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024
FLUSH_EVERY = 0.9  # seconds: "at least once a second"; also the indexed container's chunk age
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 5.0
STOP_TIMEOUT = 30.0  # seconds a call may take at the very most (an fsync of a slow disk included)
MAX_WAIT = 86400.0  # the longest connect timeout taken (a day)

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class RecorderStatus:
    """A snapshot for status lines: connection, totals, and the open segment if any."""

    connected: bool
    recording: bool
    received: int
    received_bytes: int
    reconnects: int
    segment_events: int
    segment_bytes: int
    last_error: str | None
    failed: bool  # a background error waits to be raised by the next call


class SegmentHandle:
    """What `recording()` yields: the segment's path, and its summary once it is stopped."""

    def __init__(self, path: PathLike) -> None:
        self.path = os.fspath(path)
        self.summary: SegmentSummary | None = None


class AsyncEventRecorder:
    """Records a gateway's event stream into log segments, in asyncio code.

    One connection is kept open (and re-opened with backoff when the gateway
    restarts) for the recorder's whole life; `start()`/`stop()` cut segments from
    it, so nothing is missed at a segment's start. Options:

    - `include` / `exclude`: event kinds to keep or drop (e.g. `exclude={"image"}`);
    - `pre_roll`: seconds of stream kept in memory while idle and written first at
      `start()`, bounded by `pre_roll_max_bytes`;
    - `max_message_size`: largest websocket message accepted (camera frames);
    - `connect_timeout`: how long `start()` waits for a first connection before
      raising `GatewayUnreachable`;
    - `format`: "classic" or "indexed" (default: from each path's extension);
    - `overwrite`: replace a file already at a segment's path (by default `start()`
      refuses it with `RecordingFailed`: a recording never silently replaces another);
    - `on_event`: called with each recorded `Event` (on the recorder's loop).
    """

    def __init__(
        self,
        uri: str = DEFAULT_URI,
        *,
        include: Any = None,
        exclude: Any = None,
        pre_roll: float = 0.0,
        pre_roll_max_bytes: int = PRE_ROLL_MAX_BYTES,
        max_message_size: int = MAX_MESSAGE_SIZE,
        connect_timeout: float = 5.0,
        format: str | None = None,
        metadata: dict[str, Any] | None = None,
        overwrite: bool = False,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        from websockets.exceptions import InvalidURI
        from websockets.uri import parse_uri

        try:
            parse_uri(uri)
        except InvalidURI as exc:
            raise ValueError(f"not a websocket URI: {uri!r} ({exc})") from None
        if isinstance(max_message_size, bool) or not isinstance(max_message_size, int) or max_message_size <= 0:
            raise ValueError(f"max_message_size must be a number of bytes > 0, not {max_message_size!r}")
        if not (isinstance(connect_timeout, int | float) and 0 <= connect_timeout <= MAX_WAIT):
            raise ValueError(f"connect_timeout must be from 0 to {MAX_WAIT:g} seconds, not {connect_timeout!r}")
        self.uri = uri
        self.format = format
        self.connect_timeout = connect_timeout
        self._max_size = max_message_size
        self._on_event = on_event
        meta = {"source": uri, "recorder": f"pdlogkit {__version__}", **(metadata or {})}
        self._keeper = SegmentKeeper(
            include=include,
            exclude=exclude,
            pre_roll=pre_roll,
            pre_roll_max_bytes=pre_roll_max_bytes,
            metadata=meta,
            overwrite=overwrite,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._connected: asyncio.Event | None = None
        self._ever_connected = False
        self._closed = False
        self._close_in_thread = True  # off at interpreter exit, when no new thread may start
        self.received = 0
        self.received_bytes = 0
        self.reconnects = 0
        self.last_error: str | None = None

    # -- the connection ---------------------------------------------------------------

    async def connect(self) -> None:
        """Start the background connection (done by `start()` and `async with` too)."""
        if self._closed:
            raise RecorderStateError("the recorder is closed")
        if not self._tasks:
            self._connected = asyncio.Event()
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._receive_forever()), loop.create_task(self._flush_forever())]

    async def _receive_forever(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake

        assert self._connected is not None
        backoff = BACKOFF_FIRST
        keeper = self._keeper
        while True:
            try:
                async with connect(
                    self.uri,
                    max_size=self._max_size,
                    compression=None,
                    open_timeout=max(1.0, self.connect_timeout),
                ) as ws:
                    keeper.connected()
                    if self._ever_connected:
                        self.reconnects += 1
                    self._ever_connected = True
                    self._connected.set()
                    backoff = BACKOFF_FIRST
                    await self._consume(ws)
                    self.last_error = "the gateway closed the connection"
            except asyncio.CancelledError:
                raise
            except ConnectionClosed as exc:
                self.last_error = f"connection lost ({exc})"
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                self.last_error = f"{exc.__class__.__name__}: {exc}"
            except Exception as exc:  # never let the receiver die: report and go on
                self.last_error = f"unexpected {exc.__class__.__name__}: {exc}"
            self._connected.clear()
            keeper.disconnected()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _consume(self, ws: Any) -> None:
        keeper = self._keeper
        on_event = self._on_event
        clock = time.time_ns
        async for message in ws:
            received_ns = clock()
            if isinstance(message, str):  # the gateway sends binary only; keep the bytes anyway
                message = message.encode()
            self.received += 1
            self.received_bytes += len(message)
            keeper.on_event(message, received_ns)
            if on_event is not None and keeper.recording:  # pdrecord -v
                event = Event(message, received_ns=received_ns)
                if keeper.wanted(event.kind):
                    try:
                        on_event(event)
                    except Exception as exc:  # the caller's bug must not cost the connection
                        on_event = self._on_event = None
                        self.last_error = f"on_event callback failed and was disabled: {exc!r}"
                        warnings.warn(self.last_error, RuntimeWarning, stacklevel=1)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            self._keeper.flush()

    @property
    def connected(self) -> bool:
        """Whether the connection to the gateway is up right now."""
        return self._connected is not None and self._connected.is_set()

    @property
    def is_recording(self) -> bool:
        """Whether a segment is open."""
        return self._keeper.recording

    def status(self) -> RecorderStatus:
        """A snapshot of the recorder, for a status line."""
        summary = self._keeper.current
        return RecorderStatus(
            connected=self.connected,
            recording=self.is_recording,
            received=self.received,
            received_bytes=self.received_bytes,
            reconnects=self.reconnects,
            segment_events=summary.events if summary else 0,
            segment_bytes=summary.bytes if summary else 0,
            last_error=self._keeper.error or self.last_error,
            failed=self._keeper.failed,
        )

    # -- segments ---------------------------------------------------------------------

    async def start(self, path: PathLike, format: str | None = None) -> None:
        """Start a segment at `path`; the pre-roll buffer is written first."""
        await self.connect()
        assert self._connected is not None
        if not self._ever_connected:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), self.connect_timeout)
            if not self._ever_connected:
                raise GatewayUnreachable(
                    f"cannot reach the gateway at {self.uri} within {self.connect_timeout:g} s: {self.last_error}"
                )
        self._keeper.start(path, format or self.format)

    async def stop(self) -> SegmentSummary:
        """End the segment: sync it to disk and return its summary."""
        writer, summary = self._keeper.detach()
        await self._close_writer(writer, summary)
        return summary

    async def rotate(self, path: PathLike, format: str | None = None) -> SegmentSummary:
        """End the segment and start the next at `path` with no event in between; return the ended one's summary.

        If `path` cannot be opened, the ended segment is still closed properly and
        the error (`RecordingFailed`, with the ended segment's summary) is raised.
        """
        writer, summary = self._keeper.detach()
        try:
            self._keeper.start(path, format or self.format)
        except RecordingFailed as exc:
            exc.summary = summary
            raise
        finally:
            await self._close_writer(writer, summary)
        return summary

    async def _close_writer(self, writer: Any, summary: SegmentSummary) -> None:
        """Drain, sync and close a segment's writer, off the event loop unless at exit."""
        try:
            if self._close_in_thread:
                await asyncio.to_thread(writer.close)
            else:
                writer.close()
        except OSError as exc:
            raise RecordingFailed(f"closing {summary.path} failed: {exc.strerror}", summary) from exc

    @contextlib.asynccontextmanager
    async def recording(self, path: PathLike, format: str | None = None) -> AsyncIterator[SegmentHandle]:
        """`async with rec.recording("seg.bin") as seg:` records one segment; `seg.summary` after."""
        handle = SegmentHandle(path)
        await self.start(path, format)
        try:
            yield handle
        finally:
            handle.summary = await self.stop()

    async def close(self) -> SegmentSummary | None:
        """Stop any open segment (returning its summary) and close the connection.

        A background error not yet reported (`RecordingFailed`) is raised here, after
        everything is closed.
        """
        try:
            summary = await self.stop() if self.is_recording else None
        finally:
            self._closed = True
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
            if self._connected is not None:
                self._connected.clear()
        self._keeper.raise_error()
        return summary

    async def __aenter__(self) -> AsyncEventRecorder:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _shutdown(background: BackgroundLoop, recorder: AsyncEventRecorder) -> None:
    """At exit or when an EventRecorder is forgotten: close its segment properly."""
    recorder._close_in_thread = False  # no new thread may start while the interpreter exits
    if background.alive:
        with contextlib.suppress(Exception):
            background.run(recorder.close(), timeout=STOP_TIMEOUT)
        background.close()


class EventRecorder:
    """Records a gateway's event stream into log segments, from a plain script.

    The same engine and options as `AsyncEventRecorder`, run on a private event
    loop in a background thread. Every call returns within a bounded time; an
    error the background hit (disk full, ...) is raised by the next call, and the
    recorder stays usable afterwards.
    """

    def __init__(self, uri: str = DEFAULT_URI, **options: Any) -> None:
        self._engine = AsyncEventRecorder(uri, **options)
        self._background = BackgroundLoop("pdlogkit-recorder")
        self._background.run(self._engine.connect(), timeout=STOP_TIMEOUT)
        self._finalizer = weakref.finalize(self, _shutdown, self._background, self._engine)

    @property
    def uri(self) -> str:
        """The gateway's websocket URI."""
        return self._engine.uri

    @property
    def connected(self) -> bool:
        """Whether the connection to the gateway is up right now."""
        return self._engine.connected

    @property
    def is_recording(self) -> bool:
        """Whether a segment is open."""
        return self._engine.is_recording

    def status(self) -> RecorderStatus:
        """A snapshot of the recorder, for a status line."""
        return self._engine.status()

    def _call(self, coro: Any, timeout: float) -> Any:
        if not self._background.alive:
            coro.close()
            raise RecorderStateError("the recorder is closed")
        try:
            return self._background.run(coro, timeout)
        except TimeoutError:
            raise RecorderError(f"the recorder did not answer within {timeout:g} s") from None

    def start(self, path: PathLike, format: str | None = None) -> None:
        """Start a segment at `path`; the pre-roll buffer is written first.

        Raises `GatewayUnreachable` if the gateway was never reached within
        `connect_timeout`, `RecorderStateError` if a segment is already open.
        """
        self._call(self._engine.start(path, format), self._engine.connect_timeout + STOP_TIMEOUT)

    def stop(self) -> SegmentSummary:
        """End the segment: sync it to disk and return its summary (`RecorderStateError` if idle)."""
        return self._call(self._engine.stop(), STOP_TIMEOUT)  # type: ignore[no-any-return]

    def rotate(self, path: PathLike, format: str | None = None) -> SegmentSummary:
        """End the segment and start the next at `path` with no event in between."""
        return self._call(self._engine.rotate(path, format), STOP_TIMEOUT)  # type: ignore[no-any-return]

    @contextlib.contextmanager
    def recording(self, path: PathLike, format: str | None = None) -> Iterator[SegmentHandle]:
        """`with rec.recording("seg.bin") as seg:` records one segment; `seg.summary` after."""
        handle = SegmentHandle(path)
        self.start(path, format)
        try:
            yield handle
        finally:
            handle.summary = self.stop()

    def close(self) -> SegmentSummary | None:
        """Stop any open segment (returning its summary), close the connection and the thread."""
        if not self._background.alive:
            return None
        try:
            return self._call(self._engine.close(), STOP_TIMEOUT)  # type: ignore[no-any-return]
        finally:
            self._finalizer.detach()
            self._background.close()

    def __enter__(self) -> EventRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
