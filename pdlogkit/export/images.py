"""The JPEG inside an image event, found without parsing the event (pure)."""

from __future__ import annotations


def image_data(payload: bytes) -> memoryview | None:
    """The JPEG inside an image event, without parsing it (None if its wire form is not the usual one)."""
    view = memoryview(payload)
    pos = 1
    try:
        _, pos = _varint(view, pos)
        end = len(view)
        found = None
        while pos < end:
            tag, pos = _varint(view, pos)
            if tag & 7 != 2:
                return None
            length, pos = _varint(view, pos)
            if tag >> 3 == 2:
                found = view[pos : pos + length]
            pos += length
        return found if pos == end else None
    except IndexError:
        return None


def _varint(view: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = view[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


__all__ = ["image_data"]
