"""Events as JSON-ready dicts: what `pdlogkit cat` prints, one per line."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from .events import Event
from .log import Log, TimeBound, open_log


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


def event_dicts(
    log: Log | str | os.PathLike[str] | BinaryIO,
    *,
    kinds: Iterable[str] | None = None,
    start: TimeBound = None,
    end: TimeBound = None,
    with_images: bool = False,
) -> Iterator[dict[str, Any]]:
    """The events of a log as JSON-ready dicts (what `pdlogkit cat` prints, one per line)."""
    if not isinstance(log, Log):
        with open_log(log) as opened:
            yield from event_dicts(opened, kinds=kinds, start=start, end=end, with_images=with_images)
        return
    for t, event in log.timed_events(kinds, start, end):
        yield event_dict(t, event, with_images=with_images)


__all__ = ["event_dict", "event_dicts"]
