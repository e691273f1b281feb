"""The JPEG inside an image event, found without parsing the event (pure)."""

from __future__ import annotations

from ..formats.wire import varint


def image_data(payload: bytes) -> memoryview | None:
    """The JPEG inside an image event, without parsing it (None if its wire form is not the usual one)."""
    view = memoryview(payload)
    pos = 1
    try:
        _, pos = varint(view, pos)
        end = len(view)
        found = None
        while pos < end:
            tag, pos = varint(view, pos)
            if tag & 7 != 2:
                return None
            length, pos = varint(view, pos)
            if tag >> 3 == 2:
                found = view[pos : pos + length]
            pos += length
        return found if pos == end else None
    except (IndexError, ValueError):
        return None


__all__ = ["image_data"]
