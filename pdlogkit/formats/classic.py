"""The classic log format, as `pdrecord` writes it: pure framing, no I/O.

    record  := length:uint32 little-endian | payload: `length` bytes
    payload := one serialized PurpleDropEvent, exactly as received

No header, no footer, no receive times. A killed recorder leaves a truncated
last record; `classify_cut` tells that apart from a corrupt length prefix. Zero
bytes where a record should start are padding (what a power loss leaves at a
file's tail) when they run for `PADDING_PROBE` bytes or to the end of the data:
a gateway never sends an empty event, so a real log never holds such a run.

`RecordFramer` is the one framing loop: the memory-mapped reader runs it over the
file's map, and `RecordParser` (for pipes and other streams) over its buffer.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator

from ..errors import LogFormatError
from ..events import UNKNOWN, kind_of
from .common import PADDING_PROBE, CutKind, Truncation, zero_prefix

#: What framing reads from: bytes, a bytearray, a memoryview or a memory map.
Buffer = bytes | bytearray | memoryview | mmap.mmap

HEADER = struct.Struct("<I")
HEADER_SIZE = HEADER.size

#: Largest record a reader accepts by default: far above any camera frame
#: (a few MB), far below what would exhaust memory.
MAX_RECORD_SIZE = 64 * 1024 * 1024


def encode_record(payload: bytes) -> bytes:
    """One classic record: the 4-byte little-endian length, then the payload."""
    return HEADER.pack(len(payload)) + payload


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


class RecordFramer:
    """Finds the complete records in a buffer (pure): the framing loop behind every classic reader.

    `spans` yields each payload's (start, stop) in the buffer; `pos` follows it, and
    once the data stops being records, `cut` says why (a cut record, or padding).
    A length prefix that cannot be a record raises `LogFormatError` with its offset.
    """

    def __init__(self, *, max_record_size: int = MAX_RECORD_SIZE, path: str | None = None) -> None:
        self.max_record_size = max_record_size
        self.path = path
        #: Where framing stopped in the buffer: a record boundary.
        self.pos = 0
        #: Why the data stopped being records: a cut record or padding (None: it ended cleanly or needs more).
        self.cut: Truncation | None = None

    def spans(self, buf: Buffer, pos: int, end: int, *, at_end: bool, base: int = 0) -> Iterator[tuple[int, int]]:
        """(start, stop) of each complete payload in `buf[pos:end]`, in order.

        `base` is the file offset of `buf[0]` (for messages and `cut`). With
        `at_end` the data ends at `end` and what follows the last record is
        classified into `cut`; without it framing stops where more data is needed.
        """
        unpack = HEADER.unpack_from
        max_record = self.max_record_size
        self.pos = pos
        while end - pos >= HEADER_SIZE:
            (length,) = unpack(buf, pos)
            stop = pos + HEADER_SIZE + length
            if length == 0 and self._padding(buf, pos, end, at_end, base):
                return
            if stop > end or length > max_record:
                if length > max_record or at_end:
                    first = bytes(buf[pos + HEADER_SIZE : pos + HEADER_SIZE + 1])
                    self.cut = classify_cut(
                        base + pos, length, end - pos, first, max_record_size=max_record, path=self.path
                    )
                return
            yield pos + HEADER_SIZE, stop
            pos = stop
            self.pos = pos
        if at_end and pos < end:  # the end falls inside a 4-byte header
            self.cut = classify_cut(base + pos, None, end - pos, max_record_size=max_record, path=self.path)

    def _padding(self, buf: Buffer, pos: int, end: int, at_end: bool, base: int) -> bool:
        """At an empty record: whether zero padding starts here (else it is an empty event, or more is needed)."""
        probe = min(end, pos + PADDING_PROBE)
        zeros = zero_prefix(memoryview(buf)[pos:probe])
        if zeros >= PADDING_PROBE or (zeros == end - pos and at_end):
            self.cut = Truncation(base + pos, 0, end - pos, CutKind.PADDING)
            return True
        if zeros == end - pos:  # all zeros so far, too few to tell: wait for more data
            self.pos = pos
            return True
        return False


class RecordParser:
    """Sans-I/O parser of a classic byte stream, eager like websockets' parsers.

    `receive_data(bytes)` parses at once; `records_received()` hands back the
    (offset, payload) records completed so far; `receive_eof()` classifies what is
    left (`truncation`). Memory stays bounded by the largest record: a declared
    length over `max_record_size` raises `LogFormatError` before anything is
    allocated for it. Once padding is found, `done` is set and data is ignored.
    """

    def __init__(self, *, offset: int = 0, max_record_size: int = MAX_RECORD_SIZE, path: str | None = None) -> None:
        self._buffer = bytearray()
        self._offset = offset  # file offset of self._buffer[0]
        self._framer = RecordFramer(max_record_size=max_record_size, path=path)
        self._records: list[tuple[int, bytes]] = []
        self._eof = False
        #: Where the stream ends early (a cut record, or padding); set by `receive_eof` or on padding.
        self.truncation: Truncation | None = None

    @property
    def done(self) -> bool:
        """Whether the stream has ended (end of data, or padding): more data is ignored."""
        return self._eof or self.truncation is not None

    @property
    def offset(self) -> int:
        """The stream offset just past the last complete record."""
        return self._offset

    def receive_data(self, data: bytes) -> None:
        """Add bytes and parse every record they complete."""
        if self.done:
            return
        self._buffer += data
        self._parse(at_end=False)

    def receive_eof(self) -> None:
        """Signal the end of the stream: what is left after the last record becomes `truncation`."""
        if self.done:
            return
        self._parse(at_end=True)
        self._eof = True

    def records_received(self) -> list[tuple[int, bytes]]:
        """The records parsed since the last call, as (offset, payload)."""
        records, self._records = self._records, []
        return records

    def _parse(self, *, at_end: bool) -> None:
        buf = self._buffer
        framer = self._framer
        base = self._offset
        append = self._records.append
        for start, stop in framer.spans(buf, 0, len(buf), at_end=at_end, base=base):
            append((base + start - HEADER_SIZE, bytes(buf[start:stop])))
        if framer.cut is not None:
            self.truncation = framer.cut
        del buf[: framer.pos]
        self._offset += framer.pos
