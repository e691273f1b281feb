"""The recorder's engine: one websocket connection to the gateway, segments (or bursts) cut from it.

`AsyncEventRecorder` is native asyncio with no thread; `EventRecorder`
(`recorder.py`) runs it on a private event loop in a background thread for plain
scripts. What happens to each event (filters, pre-roll, activity, the open file)
is decided by the modes in `record/activity.py` and the `SegmentKeeper`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from .._version import __version__
from ..activity import POST_ROLL, PRE_ROLL, ActivityDetector, ActivityGate, ActivitySpec, check_roll
from ..errors import GatewayUnreachable, RecorderStateError, RecordingFailed
from ..events import Event
from ..files.background import BackgroundWriter
from ..markers import Marker
from .activity import BurstSegments, Everything, FramesAroundActivity, check_burst_pattern
from .gateway import RPC_TIMEOUT, ask_gateway, check_rpc_url, rpc_url_for
from .markers import new_marker
from .segments import PRE_ROLL_MAX_BYTES, SegmentKeeper, SegmentSummary

DEFAULT_URI = "ws://localhost:7001"
#: Largest websocket message accepted: camera frames are a few MB at most. The
#: websockets client's own default (1 MiB) would drop the connection on a large frame.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024
FLUSH_EVERY = 0.9  # seconds: "at least once a second"; also the indexed container's chunk age
STOP_TIMEOUT = 30.0  # seconds a call may take at the very most (an fsync of a slow disk included)
MAX_WAIT = 86400.0  # the longest connect timeout taken (a day)
#: What `frames=` takes: every camera frame, or only those around activity.
FRAMES = ("all", "activity")

PathLike = str | os.PathLike[str]


class RetryDelays:
    """How long to wait before each attempt to reconnect: short from the start, and never longer than `cap`.

    An attempt against a gateway that is down fails at once (connection refused), so
    trying every quarter second costs nothing and reconnects within about that of the
    gateway accepting connections again, however long it was down.
    """

    def __init__(self, first: float = 0.05, cap: float = 0.25) -> None:
        self.first, self.cap = first, cap
        self._next = first

    def next(self) -> float:
        """The wait before the next attempt (doubling from `first` up to `cap`)."""
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        """A connection succeeded: the next failure starts from `first` again."""
        self._next = self.first


@dataclass(frozen=True)
class RecorderStatus:
    """A snapshot for status lines: connection, totals, the open segment if any, and activity."""

    connected: bool
    recording: bool
    received: int
    received_bytes: int
    reconnects: int
    segment_events: int
    segment_bytes: int
    last_error: str | None
    failed: bool  # a background error waits to be raised by the next call
    #: Whether a window of activity is open now (None: no activity mode in use).
    activity: bool | None = None
    #: Camera images kept and left out, and the bytes left out (of the open segment; of all files in bursts).
    frames_kept: int = 0
    frames_dropped: int = 0
    bytes_saved: int = 0
    #: The file being written, if any; the number of files written by bursts so far.
    path: str | None = None
    files: int = 0


class SegmentHandle:
    """What `recording()` yields: the segment's path, and its summary once it is stopped."""

    def __init__(self, path: PathLike) -> None:
        self.path = os.fspath(path)
        self.summary: SegmentSummary | None = None


class AsyncEventRecorder:
    """Records a gateway's event stream into log segments, in asyncio code.

    One connection is kept open (and re-opened within about a quarter second of the
    gateway accepting connections again) for the recorder's whole life;
    `start()`/`stop()` cut segments from it, so nothing is missed at a segment's
    start. Options:

    - `include` / `exclude`: event kinds to keep or drop (e.g. `exclude={"image"}`);
    - `frames`: "all" (default), or "activity": camera frames only from `pre_roll`
      seconds before activity to `post_roll` seconds after it, every other event always;
    - `pre_roll`: seconds of stream kept in memory while idle and written first at
      `start()` (default 0), bounded by `pre_roll_max_bytes`; also the seconds kept
      before activity (default 5);
    - `post_roll`: seconds kept after the last activity (default 10);
    - `activity`: what counts as activity: None (electrode moves), kind names, or a
      predicate `callable(event) -> bool` (see `pdlogkit.activity`);
    - `rpc_url`: the gateway's control API (default: the same host, port 7000), asked
      once per connection for the board and device info stored in the metadata;
    - `max_message_size`: largest websocket message accepted (camera frames);
    - `connect_timeout`: how long `start()` waits for a first connection before
      raising `GatewayUnreachable`;
    - `format`: "classic" or "indexed" (default: from each path's extension);
    - `overwrite`: replace a file already at a segment's path (by default `start()`
      refuses it with `RecordingFailed`: a recording never silently replaces another);
    - `on_event`: called with each recorded `Event` (on the recorder's loop);
    - `clock`: where receive times come from (default `time.time_ns`; for simulations).
    """

    def __init__(
        self,
        uri: str = DEFAULT_URI,
        *,
        include: Any = None,
        exclude: Any = None,
        frames: str = "all",
        pre_roll: float | None = None,
        post_roll: float | None = None,
        activity: ActivitySpec = None,
        pre_roll_max_bytes: int = PRE_ROLL_MAX_BYTES,
        rpc_url: str | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
        connect_timeout: float = 5.0,
        format: str | None = None,
        metadata: dict[str, Any] | None = None,
        overwrite: bool = False,
        on_event: Callable[[Event], None] | None = None,
        clock: Callable[[], int] = time.time_ns,
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
        if frames not in FRAMES:
            raise ValueError(f"frames must be one of {', '.join(FRAMES)}, not {frames!r}")
        self.uri = uri
        self.format = format
        self.connect_timeout = connect_timeout
        self.rpc_url = check_rpc_url(rpc_url) if rpc_url is not None else rpc_url_for(uri)
        self._max_size = max_message_size
        #: Where receive times (and marker times) come from.
        self.clock = clock
        self._overwrite = overwrite
        pre = PRE_ROLL if pre_roll is None else pre_roll
        post = POST_ROLL if post_roll is None else post_roll
        check_roll(pre, "pre_roll")
        check_roll(post, "post_roll")
        self._rolls = (float(pre), float(post))
        self._max_held = pre_roll_max_bytes
        self._detector = ActivityDetector(activity)
        meta = {"source": uri, "recorder": f"pdlogkit {__version__}", **(metadata or {})}
        if frames == "activity":
            meta.update(frames="activity", pre_roll=self._rolls[0], post_roll=self._rolls[1])
        self._keeper = SegmentKeeper(
            include=include,
            exclude=exclude,
            pre_roll=self._rolls[0] if frames == "activity" else (pre_roll or 0.0),
            pre_roll_max_bytes=pre_roll_max_bytes,
            metadata=meta,
            overwrite=overwrite,
            clock=clock,
            on_event=on_event,
        )
        self._everyday: Everything = (
            FramesAroundActivity(self._keeper, self._gate("camera"))
            if frames == "activity"
            else Everything(self._keeper)
        )
        self._mode: Everything = self._everyday
        self._bursts: BurstSegments | None = None
        self._burst_files: list[SegmentSummary] = []
        self._closing: set[asyncio.Task[None]] = set()
        self._gateway_info: dict[str, Any] = {}
        self._describing: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._connected: asyncio.Event | None = None
        self._ever_connected = False
        self._closed = False
        self._close_in_thread = True  # off at interpreter exit, when no new thread may start
        self.received = 0
        self.received_bytes = 0
        self.reconnects = 0
        self.last_error: str | None = None

    def _gate(self, scope: str) -> ActivityGate:
        pre, post = self._rolls
        return ActivityGate(pre, post, scope=scope, activity=self._detector, max_held_bytes=self._max_held)

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
        delays = RetryDelays()
        while True:
            try:
                async with connect(
                    self.uri,
                    max_size=self._max_size,
                    compression=None,
                    open_timeout=max(1.0, self.connect_timeout),
                ) as ws:
                    self._keeper.connected()
                    if self._ever_connected:
                        self.reconnects += 1
                    self._ever_connected = True
                    self._connected.set()
                    delays.reset()
                    self._describe_gateway()
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
            self._keeper.disconnected()
            await asyncio.sleep(delays.next())

    async def _consume(self, ws: Any) -> None:
        clock = self.clock
        async for message in ws:
            received_ns = clock()
            if isinstance(message, str):  # the gateway sends binary only; keep the bytes anyway
                message = message.encode()
            self.received += 1
            self.received_bytes += len(message)
            self._mode.on_event(message, received_ns)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            self._mode.tick(self.clock())
            self._keeper.flush()

    def _describe_gateway(self) -> None:
        """Ask the control API about the board and device, in the background (once per connection)."""
        if self._describing is not None:
            self._describing.cancel()
        self._describing = asyncio.get_running_loop().create_task(self._ask_gateway())

    async def _ask_gateway(self) -> None:
        answer = await ask_gateway(self.rpc_url, timeout=RPC_TIMEOUT)
        known = self._gateway_info
        update = {}
        for key, value in answer.items():
            if key.endswith("_error") and value is not None and key.removesuffix("_error") in known:
                continue  # answered on an earlier connection: that answer stands
            if value != known.get(key) and (value is not None or key in known):
                update[key] = value  # only what changed goes into the files
        if update:
            for key, value in update.items():
                if value is None:
                    self._gateway_info.pop(key, None)
                else:
                    self._gateway_info[key] = value
            self._keeper.update_metadata(update)

    @property
    def connected(self) -> bool:
        """Whether the connection to the gateway is up right now."""
        return self._connected is not None and self._connected.is_set()

    @property
    def is_recording(self) -> bool:
        """Whether a segment (or a burst's file) is open."""
        return self._keeper.recording

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata the next file's header gets (source, recorder, board, device_info, ...)."""
        return self._keeper.metadata

    def status(self) -> RecorderStatus:
        """A snapshot of the recorder, for a status line."""
        summary = self._keeper.current
        kept = dropped = saved = 0
        if self._bursts is not None:
            counts = self._bursts.gate.counts
            kept, dropped, saved = counts.frames_kept, counts.frames_dropped, counts.bytes_dropped
        elif summary is not None:
            kept, dropped, saved = summary.frames_kept, summary.frames_dropped, summary.bytes_dropped
        return RecorderStatus(
            connected=self.connected,
            recording=self.is_recording,
            received=self.received,
            received_bytes=self.received_bytes,
            reconnects=self.reconnects,
            segment_events=summary.events if summary else 0,
            segment_bytes=summary.bytes if summary else 0,
            last_error=self._keeper.error or self._keeper.callback_error or self._mode.error or self.last_error,
            failed=self._keeper.failed,
            activity=self._mode.active(),
            frames_kept=kept,
            frames_dropped=dropped,
            bytes_saved=saved,
            path=summary.path if summary else None,
            files=self._bursts.files if self._bursts is not None else 0,
        )

    # -- segments ---------------------------------------------------------------------

    async def _first_connection(self) -> None:
        await self.connect()
        assert self._connected is not None
        if not self._ever_connected:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), self.connect_timeout)
            if not self._ever_connected:
                raise GatewayUnreachable(
                    f"cannot reach the gateway at {self.uri} within {self.connect_timeout:g} s: {self.last_error}"
                )

    def _no_bursts(self) -> None:
        if self._bursts is not None:
            raise RecorderStateError(f"recording bursts to {self._bursts.pattern}; call stop_bursts() first")

    async def start(self, path: PathLike, format: str | None = None) -> None:
        """Start a segment at `path`; the pre-roll buffer is written first."""
        self._no_bursts()
        await self._first_connection()
        self._keeper.start(path, format or self.format)

    async def stop(self) -> SegmentSummary:
        """End the segment: sync it to disk and return its summary."""
        self._no_bursts()
        self._mode.settle()
        writer, summary = self._keeper.detach()
        await self._close_writer(writer, summary)
        return summary

    async def rotate(self, path: PathLike, format: str | None = None) -> SegmentSummary:
        """End the segment and start the next at `path` with no event in between; return the ended one's summary.

        If `path` cannot be opened, the ended segment is still closed properly and
        the error (`RecordingFailed`, with the ended segment's summary) is raised.
        """
        self._no_bursts()
        writer, summary = self._keeper.detach()
        try:
            self._keeper.start(path, format or self.format)
        except RecordingFailed as exc:
            exc.summary = summary
            raise
        finally:
            await self._close_writer(writer, summary)
        return summary

    async def _close_writer(self, writer: BackgroundWriter, summary: SegmentSummary) -> None:
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

    # -- markers ----------------------------------------------------------------------

    def mark(self, text: str, /, **fields: Any) -> Marker:
        """Mark this moment in the recording: a text and optional JSON fields (`rec.mark("dispense", step=3)`).

        The marker counts as activity. `RecorderStateError` when nothing is being recorded.
        """
        marker = new_marker(self.clock(), text, fields)
        self.add_marker(marker)
        return marker

    def add_marker(self, marker: Marker) -> None:
        """Add a marker made beforehand (its own time)."""
        self._keeper.raise_error()
        self._mode.mark(marker)

    # -- bursts -----------------------------------------------------------------------

    async def start_bursts(self, pattern: str, format: str | None = None, *, max_segment: float | None = None) -> None:
        """Record each burst of activity into a file of its own, from `pre_roll` before it to `post_roll` after.

        `pattern` names the files, `{n}` numbering them from 1 (`"run-{n}.pdlz"`). A
        burst longer than `max_segment` seconds continues in the next file. Existing
        files the pattern names are refused unless `overwrite`. Until `stop_bursts()`,
        `start()` is refused.
        """
        self._no_bursts()
        if self.is_recording:
            raise RecorderStateError("a segment is open; call stop() first")
        check_burst_pattern(pattern, self._overwrite)
        limit = None if max_segment is None else check_roll(max_segment, "max_segment")
        if limit == 0:
            raise ValueError("max_segment must be more than 0 seconds")
        await self._first_connection()
        self._keeper.raise_error()
        self._keeper.discard_buffer()
        self._burst_files = []
        self._bursts = BurstSegments(
            self._keeper,
            self._gate("all"),
            pattern,
            self._burst_ended,
            format=format or self.format,
            max_segment_ns=limit,
        )
        self._mode = self._bursts

    def _burst_ended(self, writer: BackgroundWriter, summary: SegmentSummary) -> None:
        task = asyncio.get_running_loop().create_task(self._close_burst(writer, summary))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_burst(self, writer: BackgroundWriter, summary: SegmentSummary) -> None:
        try:
            await self._close_writer(writer, summary)
        except RecordingFailed as exc:
            self._keeper.report(exc, exc.__cause__)
        finally:
            self._burst_files.append(summary)

    @property
    def bursts(self) -> list[SegmentSummary]:
        """The summaries of the files bursts have written and closed so far, in order."""
        return sorted(self._burst_files, key=lambda s: s.started)

    async def stop_bursts(self) -> list[SegmentSummary]:
        """Stop recording bursts: the open file ends; every file's summary, in order."""
        bursts = self._bursts
        if bursts is None:
            raise RecorderStateError("not recording bursts; call start_bursts() first")
        try:
            bursts.finish()
            while self._closing:
                await asyncio.gather(*self._closing, return_exceptions=True)
        finally:
            self._bursts = None
            self._mode = self._everyday
        self._keeper.raise_error()
        return self.bursts

    async def close(self) -> SegmentSummary | None:
        """Stop any open segment (returning its summary) or bursts, and close the connection.

        A background error not yet reported (`RecordingFailed`) is raised here, after
        everything is closed.
        """
        error = None
        try:
            if self._bursts is not None:
                try:
                    await self.stop_bursts()
                except RecordingFailed as exc:  # raised once everything is closed
                    error = exc
            summary = await self.stop() if self.is_recording else None
        finally:
            self._closed = True
            tasks = [*self._tasks, *([self._describing] if self._describing else [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks = []
            if self._connected is not None:
                self._connected.clear()
        if error is not None:
            raise error
        self._keeper.raise_error()
        return summary

    async def __aenter__(self) -> AsyncEventRecorder:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


__all__ = [
    "DEFAULT_URI",
    "FRAMES",
    "MAX_MESSAGE_SIZE",
    "AsyncEventRecorder",
    "RecorderStatus",
    "RetryDelays",
    "SegmentHandle",
]
