"""`EventRecorder`: the recorder for plain scripts, the asyncio engine run on a private loop in a thread.

rec = EventRecorder("ws://purpledrop:7001")
for i in range(3):
    rec.start(f"log{i}.bin")
    time.sleep(10.0)
    rec.stop()
    time.sleep(5.0)
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

from .._loop import BackgroundLoop
from ..errors import RecorderError, RecorderStateError
from ..markers import Marker
from .engine import DEFAULT_URI, STOP_TIMEOUT, AsyncEventRecorder, PathLike, RecorderStatus, SegmentHandle
from .markers import new_marker
from .segments import SegmentSummary


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
        """Whether a segment (or a burst's file) is open."""
        return self._engine.is_recording

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata the next file's header gets (source, recorder, board, device_info, ...)."""
        return self._engine.metadata

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

    def mark(self, text: str, /, **fields: Any) -> Marker:
        """Mark this moment in the recording: a text and optional JSON fields (`rec.mark("dispense", step=3)`).

        Stored inside a container (in a classic log's sidecar); counts as activity.
        `RecorderStateError` when nothing is being recorded.
        """
        marker = new_marker(self._engine.clock(), text, fields)
        self.add_marker(marker)
        return marker

    def add_marker(self, marker: Marker) -> None:
        """Add a marker made beforehand (its own time)."""

        async def add() -> None:
            self._engine.add_marker(marker)

        self._call(add(), STOP_TIMEOUT)

    def start_bursts(self, pattern: str, format: str | None = None, *, max_segment: float | None = None) -> None:
        """Record each burst of activity into a file of its own (`"run-{n}.pdlz"`); see `AsyncEventRecorder`."""
        self._call(
            self._engine.start_bursts(pattern, format, max_segment=max_segment),
            self._engine.connect_timeout + STOP_TIMEOUT,
        )

    def stop_bursts(self) -> list[SegmentSummary]:
        """Stop recording bursts: the open file ends; every file's summary, in order."""
        return self._call(self._engine.stop_bursts(), STOP_TIMEOUT)  # type: ignore[no-any-return]

    @property
    def bursts(self) -> list[SegmentSummary]:
        """The summaries of the files bursts have written and closed so far."""
        return self._engine.bursts

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


__all__ = ["EventRecorder"]
