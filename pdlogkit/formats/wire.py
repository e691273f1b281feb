"""The protobuf wire format, the little of it read without a parser: varints and skipping fields (pure).

Used where parsing a whole message would cost more than the field wanted: an event's
timestamp, an image's JPEG. Malformed input raises `ValueError` or `IndexError`; the
callers turn those into "not there".
"""

from __future__ import annotations

Buffer = bytes | memoryview


def varint(buf: Buffer, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it (`ValueError` past 64 bits)."""
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def skip(buf: Buffer, pos: int, wire_type: int) -> int:
    """The position after a field of `wire_type` whose value starts at `pos`."""
    if wire_type == 0:
        return varint(buf, pos)[1]
    if wire_type == 1:
        return pos + 8
    if wire_type == 2:
        length, pos = varint(buf, pos)
        return pos + length
    if wire_type == 5:
        return pos + 4
    raise ValueError("unsupported wire type")


def signed64(value: int) -> int:
    """A varint read as a two's-complement int64."""
    return value - (1 << 64) if value >= 1 << 63 else value


__all__ = ["signed64", "skip", "varint"]
