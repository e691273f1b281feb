"""The classic log format, as `pdrecord` writes it: pure framing, no I/O.

    record  := length:uint32 little-endian | payload: `length` bytes
    payload := one serialized PurpleDropEvent, exactly as received

No header, no footer, no receive times. A killed recorder leaves a truncated
last record; `classify_cut` tells that apart from a corrupt length prefix.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import LogFormatError
from ..events import UNKNOWN, kind_of

HEADER = struct.Struct("<I")
HEADER_SIZE = HEADER.size

#: Largest record a reader accepts by default: far above any camera frame
#: (a few MB), far below what would exhaust memory.
MAX_RECORD_SIZE = 64 * 1024 * 1024


def encode_record(payload: bytes) -> bytes:
    """One classic record: the 4-byte little-endian length, then the payload."""
    return HEADER.pack(len(payload)) + payload


@dataclass(frozen=True)
class Truncation:
    """A log that ends inside its last record.

    `offset` is where the cut record starts, `needed` the bytes it declares
    (header included), `available` the bytes actually there.
    """

    offset: int
    needed: int
    available: int

    def __str__(self) -> str:
        return f"truncated last record at byte {self.offset}: {self.available} of {self.needed} bytes present"


def classify_cut(
    offset: int,
    length: int | None,
    available: int,
    first_byte: bytes = b"",
    *,
    max_record_size: int = MAX_RECORD_SIZE,
    path: str | None = None,
) -> Truncation:
    """Decide what a record that runs past the end of the data (or over the size limit) is.

    `available` counts the bytes from the record's header to the end of the data,
    `first_byte` is its first payload byte if there is one. A plausible record
    (length within bounds and, when a payload byte is there, a known kind) is a
    truncation, what a killed recorder leaves. Anything else raises `LogFormatError`.
    """
    if length is None:  # the end falls inside the 4-byte header
        return Truncation(offset, HEADER_SIZE, available)
    needed = HEADER_SIZE + length
    if length > max_record_size:
        raise LogFormatError(
            f"record declares {length} bytes, more than the {max_record_size} a record may hold "
            f"(not a classic log, or corrupt)",
            path=path,
            offset=offset,
        )
    if first_byte and kind_of(first_byte) == UNKNOWN:
        raise LogFormatError(
            f"record declares {length} bytes but only {available - HEADER_SIZE} remain, "
            f"and they do not start an event (corrupt length prefix)",
            path=path,
            offset=offset,
        )
    return Truncation(offset, needed, available)


class RecordParser:
    """Sans-I/O parser of a classic byte stream: feed bytes, get (offset, payload) records.

    Memory stays bounded by the largest record: a declared length over
    `max_record_size` raises `LogFormatError` before anything is allocated for it.
    """

    def __init__(self, *, offset: int = 0, max_record_size: int = MAX_RECORD_SIZE, path: str | None = None) -> None:
        self._buffer = bytearray()
        self._offset = offset  # file offset of self._buffer[0]
        self._max = max_record_size
        self._path = path

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        """Add bytes; yield every record they complete, in order."""
        buf = self._buffer
        buf += data
        pos = 0
        end = len(buf)
        unpack = HEADER.unpack_from
        while end - pos >= HEADER_SIZE:
            (length,) = unpack(buf, pos)
            if length > self._max:
                classify_cut(self._offset + pos, length, end - pos, max_record_size=self._max, path=self._path)
            stop = pos + HEADER_SIZE + length
            if stop > end:
                break
            yield self._offset + pos, bytes(buf[pos + HEADER_SIZE : stop])
            pos = stop
        del buf[:pos]
        self._offset += pos

    def finish(self) -> Truncation | None:
        """Call at end of data: None if it ended on a record boundary, else the truncation."""
        if not self._buffer:
            return None
        buf = self._buffer
        length = HEADER.unpack_from(buf)[0] if len(buf) >= HEADER_SIZE else None
        first = bytes(buf[HEADER_SIZE : HEADER_SIZE + 1])
        return classify_cut(self._offset, length, len(buf), first, max_record_size=self._max, path=self._path)
