"""Events (and markers) as JSON-ready dicts: what `pdlogkit cat` prints, one per line."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from .events import Event
from .log import Log, TimeBound, open_log
from .markers import Marker

#: The kind `cat` gives markers (a kind of their own, beside the event kinds).
MARKER = "marker"


def event_dict(t: int | None, event: Event, *, with_images: bool = False) -> dict[str, Any]:
    """One event as a JSON-ready dict: log time (Unix s), kind, and the message's fields.

    Image bytes become their size and sha256 unless `with_images` (then base64).
    """
    from google.protobuf.json_format import MessageToDict

    message = event.message
    which = message.WhichOneof("msg")
    fields: dict[str, Any] = {}
    if which is not None:
        inner = getattr(message, which)
        data = inner.image_data if which == "image" and not with_images else None
        if data is not None:
            inner = type(inner)(timestamp=inner.timestamp)
        fields = MessageToDict(inner, preserving_proto_field_name=True)
        if data is not None:
            fields["image_data"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return {"time": None if t is None else t / 1e9, "kind": event.kind, "fields": fields}


def marker_dict(marker: Marker) -> dict[str, Any]:
    """A marker as a JSON-ready dict, like an event's: time (Unix s), kind "marker", its text and fields."""
    return {"time": marker.time, "kind": MARKER, "text": marker.text, "fields": dict(marker.fields)}


def event_dicts(
    log: Log | str | os.PathLike[str] | BinaryIO,
    *,
    kinds: Iterable[str] | None = None,
    start: TimeBound = None,
    end: TimeBound = None,
    with_images: bool = False,
) -> Iterator[dict[str, Any]]:
    """The events of a log as JSON-ready dicts (what `pdlogkit cat` prints, one per line).

    The log's markers come among them in time order (kind "marker"), unless `kinds`
    leaves "marker" out.
    """
    if not isinstance(log, Log):
        with open_log(log) as opened:
            yield from event_dicts(opened, kinds=kinds, start=start, end=end, with_images=with_images)
        return
    chosen = None if kinds is None else [k for k in kinds if k != MARKER]
    with_markers = kinds is None or MARKER in kinds
    lo, hi = log.window_ns(start, end)
    shown: set[int] = set()  # ids of the markers noted (the log hands back the same objects)
    pending: list[Marker] = []
    last_offset: int | None = -1

    def due(t: int | None) -> Iterator[dict[str, Any]]:
        while pending and (t is None or pending[0].time_ns <= t):
            yield marker_dict(pending.pop(0))

    events = log.timed_events(chosen, start, end) if chosen != [] else iter(())
    poll = with_markers and not log.markers_known  # a stream's markers come with its chunks
    if with_markers and not poll:
        _note(log, lo, hi, shown, pending)
    for t, event in events:
        if poll and event.offset != last_offset:
            last_offset = event.offset
            _note(log, lo, hi, shown, pending)
        if pending and t is not None:
            yield from due(t)
        yield event_dict(t, event, with_images=with_images)
    if with_markers:
        _note(log, lo, hi, shown, pending)
        yield from due(None)


def _note(log: Log, lo: int | None, hi: int | None, shown: set[int], pending: list[Marker]) -> None:
    """Add the log's markers in [lo, hi) not seen yet to `pending`, kept in time order."""
    fresh = [
        m
        for m in log.markers()
        if id(m) not in shown and (lo is None or m.time_ns >= lo) and (hi is None or m.time_ns < hi)
    ]
    if fresh:
        shown.update(id(m) for m in fresh)
        pending.extend(fresh)
        pending.sort(key=lambda m: m.time_ns)


__all__ = ["MARKER", "event_dict", "event_dicts", "marker_dict"]
