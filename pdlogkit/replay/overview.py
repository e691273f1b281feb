"""What the viewer asks of a replay beyond the gateway's methods, read from the log itself.

The log's markers and periods of activity placed on the playback timeline (for the
seek bar), and the camera frame at a playback position (a paused viewer that seeks
gets no events, yet should show the frame there). All of it is blocking reading on a
handle of its own: the server runs it in a thread, never on the event loop.

Positions are seconds on the playback timeline (`playback.Source`): from the first
timed event. On a log whose clock stepped back, markers and periods after the step
are placed by their clock time, so they may sit off by the size of the step.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import ReplayError
from ..events import Event
from ..ops import activity_windows
from ..timeline import event_time_ns

if TYPE_CHECKING:
    from .playback import Source

#: Events read between two hand-overs of the GIL to the event loop (a sleep(0) each costs a few microseconds).
YIELD_EVERY = 64


def position(source: Source, t_ns: int) -> float:
    """A time on the log's clock (Unix ns) as seconds on the playback timeline, within the log."""
    return min(max((t_ns - source.origin_ns) / 1e9, 0.0), source.duration)


def markers(source: Source) -> list[dict[str, Any]]:
    """The log's markers in time order: `{"time": s, "text": str, "fields": {...}}`."""
    with source.log.reopen() as log:
        found = log.markers()
    return [{"time": position(source, m.time_ns), "text": m.text, "fields": dict(m.fields)} for m in found]


def activity(source: Source, stop: threading.Event | None = None) -> list[dict[str, Any]]:
    """The periods of activity (as `pdlogkit activity` finds them, default rolls, markers counted):
    `{"start", "end", "first", "last", "moves", "electrodes"}`, times in seconds on the playback timeline.

    Reads the whole log once; `stop` set ends the read early (ReplayError).
    """
    with source.log.reopen() as log:
        windows = activity_windows(log, pace=lambda timed: _until(stop, timed))
    return [
        {
            "start": position(source, w.start_ns),
            "end": position(source, w.end_ns),
            "first": position(source, w.first_ns),
            "last": position(source, w.last_ns),
            "moves": w.activities,
            "electrodes": sorted(w.electrodes),
        }
        for w in windows
    ]


def camera_frame(source: Source, frame: Event | None) -> dict[str, Any] | None:
    """The answer to `get_camera_frame` for the frame a playback has shown last (None before the first, or
    when the replay does not send frames): `{"time": s, "timestamp": {"seconds", "nanos"} | None, "jpeg": base64}`."""
    if frame is None:
        return None
    image = frame.message.image
    t = event_time_ns(frame)
    return {
        "time": position(source, t) if t is not None else None,
        "timestamp": {"seconds": image.timestamp.seconds, "nanos": image.timestamp.nanos}
        if image.HasField("timestamp")
        else None,
        "jpeg": base64.b64encode(image.image_data).decode("ascii"),
    }


def _until(stop: threading.Event | None, items: Iterator[Any]) -> Iterator[Any]:
    """`items`, ending with ReplayError once `stop` is set; the GIL is handed to the loop every `YIELD_EVERY`
    items (a fraction of a millisecond of reading), so the stream's sends stay on time."""
    for n, item in enumerate(items):
        if n % YIELD_EVERY == 0:
            if stop is not None and stop.is_set():
                raise ReplayError("the replay stopped")
            time.sleep(0)
        yield item
