"""MCAP records: encode and decode (pure, I/O-free).

MCAP (https://mcap.dev, format version 0) is a sequence of records, each
`opcode:u8 | length:u64 | content`, between two copies of the magic. Integers
are little endian; a string is `u32 length | UTF-8`; a map or array is
`u32 byte length | entries`. Only what pdlogkit reads and writes is here; other
records are skipped by their length. Decoders raise `LogFormatError` with the
offset, never `struct.error`.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import LogFormatError

MAGIC = b"\x89MCAP0\r\n"

HEADER, FOOTER, SCHEMA, CHANNEL, MESSAGE, CHUNK = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
MESSAGE_INDEX, CHUNK_INDEX, ATTACHMENT, ATTACHMENT_INDEX = 0x07, 0x08, 0x09, 0x0A
STATISTICS, METADATA, METADATA_INDEX, SUMMARY_OFFSET, DATA_END = 0x0B, 0x0C, 0x0D, 0x0E, 0x0F

RECORD_HEAD = struct.Struct("<BQ")
#: A message record's fixed part: opcode, length, channel id, sequence, log time, publish time.
MESSAGE_HEAD = struct.Struct("<BQHIQQ")
#: The same fields inside a message record's content (channel id, sequence, log time, publish time).
MESSAGE_FIELDS = struct.Struct("<HIQQ")
FOOTER_SIZE = RECORD_HEAD.size + 20
#: Records larger than this are refused before anything is allocated (a chunk of camera frames is far smaller).
MAX_RECORD = 1 << 32

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_CHUNK_FIXED = struct.Struct("<QQQI")


# ---------------------------------------------------------------- encoding


def _str(text: str) -> bytes:
    data = text.encode()
    return _U32.pack(len(data)) + data


def _map(entries: dict[str, str]) -> bytes:
    body = b"".join(_str(k) + _str(v) for k, v in entries.items())
    return _U32.pack(len(body)) + body


def record(opcode: int, content: bytes) -> bytes:
    """One record: opcode, length, content."""
    return RECORD_HEAD.pack(opcode, len(content)) + content


def header(profile: str, library: str) -> bytes:
    return record(HEADER, _str(profile) + _str(library))


def schema(schema_id: int, name: str, encoding: str, data: bytes) -> bytes:
    return record(SCHEMA, _U16.pack(schema_id) + _str(name) + _str(encoding) + _U32.pack(len(data)) + data)


def channel(channel_id: int, schema_id: int, topic: str, message_encoding: str, metadata: dict[str, str]) -> bytes:
    return record(
        CHANNEL, _U16.pack(channel_id) + _U16.pack(schema_id) + _str(topic) + _str(message_encoding) + _map(metadata)
    )


def chunk_head(start: int, end: int, uncompressed_size: int, crc: int, compression: str, size: int) -> bytes:
    """A chunk record up to its records (which follow: `size` bytes, compressed with `compression`)."""
    fixed = _CHUNK_FIXED.pack(start, end, uncompressed_size, crc) + _str(compression) + _U64.pack(size)
    return RECORD_HEAD.pack(CHUNK, len(fixed) + size) + fixed


def message_index(channel_id: int, entries: bytes) -> bytes:
    """A message index record; `entries` are packed `<QQ` (log time, offset in the chunk's records) pairs."""
    return record(MESSAGE_INDEX, _U16.pack(channel_id) + _U32.pack(len(entries)) + entries)


def chunk_index(info: ChunkIndex) -> bytes:
    offsets = b"".join(_U16.pack(c) + _U64.pack(o) for c, o in info.message_index_offsets.items())
    return record(
        CHUNK_INDEX,
        struct.pack("<QQQQ", info.start, info.end, info.offset, info.length)
        + _U32.pack(len(offsets))
        + offsets
        + _U64.pack(info.message_index_length)
        + _str(info.compression)
        + struct.pack("<QQ", info.compressed_size, info.uncompressed_size),
    )


def metadata(name: str, entries: dict[str, str]) -> bytes:
    return record(METADATA, _str(name) + _map(entries))


def metadata_index(offset: int, length: int, name: str) -> bytes:
    return record(METADATA_INDEX, struct.pack("<QQ", offset, length) + _str(name))


def statistics(stats: Statistics) -> bytes:
    counts = b"".join(_U16.pack(c) + _U64.pack(n) for c, n in sorted(stats.channel_message_counts.items()))
    return record(
        STATISTICS,
        struct.pack(
            "<QHIIIIQQ",
            stats.message_count,
            stats.schema_count,
            stats.channel_count,
            0,  # attachments
            stats.metadata_count,
            stats.chunk_count,
            stats.message_start_time,
            stats.message_end_time,
        )
        + _U32.pack(len(counts))
        + counts,
    )


def summary_offset(opcode: int, start: int, length: int) -> bytes:
    return record(SUMMARY_OFFSET, struct.pack("<BQQ", opcode, start, length))


def data_end(crc: int = 0) -> bytes:
    return record(DATA_END, _U32.pack(crc))


def footer(summary_start: int, summary_offset_start: int, summary: bytes | bytearray) -> bytes:
    """The footer; its CRC covers the summary section and the footer's own fields before it."""
    head = RECORD_HEAD.pack(FOOTER, 20) + struct.pack("<QQ", summary_start, summary_offset_start)
    return head + _U32.pack(zlib.crc32(head, zlib.crc32(summary)))


# ---------------------------------------------------------------- decoding


@dataclass
class Schema:
    id: int
    name: str
    encoding: str
    data: bytes


@dataclass
class Channel:
    id: int
    schema_id: int
    topic: str
    message_encoding: str
    metadata: dict[str, str]


@dataclass
class ChunkIndex:
    """Where a chunk is and what it holds (from the summary, or from the chunk's own header when scanning)."""

    start: int
    end: int
    offset: int
    length: int
    message_index_offsets: dict[int, int] = field(default_factory=dict)
    message_index_length: int = 0
    compression: str = ""
    compressed_size: int = 0
    uncompressed_size: int = 0


@dataclass
class Statistics:
    message_count: int = 0
    schema_count: int = 0
    channel_count: int = 0
    metadata_count: int = 0
    chunk_count: int = 0
    message_start_time: int = 0
    message_end_time: int = 0
    channel_message_counts: dict[int, int] = field(default_factory=dict)


@dataclass
class Chunk:
    """A chunk record's header and its (still compressed) records."""

    start: int
    end: int
    uncompressed_size: int
    crc: int
    compression: str
    data: memoryview


class Reader:
    """Reads the fields of one record's content; `LogFormatError` (with the offset) when it runs short."""

    def __init__(self, data: bytes | memoryview, offset: int, what: str) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.offset = offset
        self.what = what

    def _take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise LogFormatError(f"MCAP {self.what} record is shorter than its fields", offset=self.offset)
        view = self.data[self.pos : self.pos + n]
        self.pos += n
        return view

    def u8(self) -> int:
        return int(self._take(1)[0])

    def u16(self) -> int:
        return int(_U16.unpack(self._take(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack(self._take(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack(self._take(8))[0])

    def string(self) -> str:
        try:
            return bytes(self._take(self.u32())).decode()
        except UnicodeDecodeError:
            raise LogFormatError(
                f"MCAP {self.what} record holds a string that is not UTF-8", offset=self.offset
            ) from None

    def blob(self) -> bytes:
        return bytes(self._take(self.u32()))

    def rest(self) -> memoryview:
        return self._take(len(self.data) - self.pos)

    def entries(self) -> Reader:
        """The entries of a map or array, as a reader of their own."""
        return Reader(self._take(self.u32()), self.offset, self.what)

    def more(self) -> bool:
        return self.pos < len(self.data)


def read_schema(content: memoryview, offset: int) -> Schema:
    r = Reader(content, offset, "schema")
    return Schema(r.u16(), r.string(), r.string(), r.blob())


def read_channel(content: memoryview, offset: int) -> Channel:
    r = Reader(content, offset, "channel")
    cid, sid, topic, encoding = r.u16(), r.u16(), r.string(), r.string()
    return Channel(cid, sid, topic, encoding, _read_map(r.entries()))


def _read_map(r: Reader) -> dict[str, str]:
    out = {}
    while r.more():
        key = r.string()
        out[key] = r.string()
    return out


def read_chunk(content: memoryview, offset: int) -> Chunk:
    r = Reader(content, offset, "chunk")
    start, end, size, crc = r.u64(), r.u64(), r.u64(), r.u32()
    compression = r.string()
    length = r.u64()
    data = r._take(length)
    return Chunk(start, end, size, crc, compression, data)


def read_chunk_index(content: memoryview, offset: int) -> ChunkIndex:
    r = Reader(content, offset, "chunk index")
    start, end, chunk_offset, length = r.u64(), r.u64(), r.u64(), r.u64()
    offsets_reader = r.entries()
    offsets = {}
    while offsets_reader.more():
        key = offsets_reader.u16()
        offsets[key] = offsets_reader.u64()
    index_length = r.u64()
    compression = r.string()
    return ChunkIndex(start, end, chunk_offset, length, offsets, index_length, compression, r.u64(), r.u64())


def read_statistics(content: memoryview, offset: int) -> Statistics:
    r = Reader(content, offset, "statistics")
    stats = Statistics(r.u64(), r.u16(), r.u32())
    r.u32()  # attachments
    stats.metadata_count, stats.chunk_count = r.u32(), r.u32()
    stats.message_start_time, stats.message_end_time = r.u64(), r.u64()
    counts = r.entries()
    while counts.more():
        key = counts.u16()
        stats.channel_message_counts[key] = counts.u64()
    return stats


def read_metadata(content: memoryview, offset: int) -> tuple[str, dict[str, str]]:
    r = Reader(content, offset, "metadata")
    return r.string(), _read_map(r.entries())


def read_metadata_index(content: memoryview, offset: int) -> tuple[int, int, str]:
    r = Reader(content, offset, "metadata index")
    return r.u64(), r.u64(), r.string()


def read_footer(content: memoryview, offset: int) -> tuple[int, int, int]:
    """(summary start, summary offset start, CRC)."""
    r = Reader(content, offset, "footer")
    return r.u64(), r.u64(), r.u32()


def records(data: bytes | memoryview, base: int = 0) -> Iterator[tuple[int, int, memoryview]]:
    """(opcode, offset, content) of each whole record in `data` (`base`: the offset of `data` in its file).

    Stops before a record that does not fit: `record_end(data)` says where that is.
    """
    view = memoryview(data)
    pos, n = 0, len(view)
    unpack = RECORD_HEAD.unpack_from
    while pos + 9 <= n:
        opcode, length = unpack(view, pos)
        end = pos + 9 + length
        if end > n:
            return
        yield opcode, base + pos, view[pos + 9 : end]
        pos = end


def decompress(chunk: Chunk, offset: int, *, check_crc: bool = True) -> bytes | memoryview:
    """A chunk's records, uncompressed and checked against its CRC; `LogFormatError` naming the chunk's offset."""
    if chunk.uncompressed_size > MAX_RECORD:
        raise LogFormatError(f"MCAP chunk declares {chunk.uncompressed_size} bytes, more than allowed", offset=offset)
    if chunk.compression == "":
        data: bytes | memoryview = chunk.data
    elif chunk.compression == "zstd":
        import zstandard

        try:
            data = zstandard.ZstdDecompressor().decompress(chunk.data, max_output_size=chunk.uncompressed_size)
        except zstandard.ZstdError as exc:
            raise LogFormatError(f"MCAP chunk does not decompress ({exc})", offset=offset) from None
    elif chunk.compression == "lz4":
        try:
            import lz4.frame  # type: ignore  # optional: only other tools' files use lz4
        except ImportError:
            raise LogFormatError(
                "MCAP chunk is lz4-compressed and the lz4 package is not installed (pip install lz4)", offset=offset
            ) from None
        try:
            data = lz4.frame.decompress(bytes(chunk.data))
        except RuntimeError as exc:
            raise LogFormatError(f"MCAP chunk does not decompress ({exc})", offset=offset) from None
    else:
        raise LogFormatError(f"MCAP chunk compressed with unknown {chunk.compression!r}", offset=offset)
    if len(data) != chunk.uncompressed_size:
        raise LogFormatError(
            f"MCAP chunk holds {len(data)} bytes uncompressed, its header says {chunk.uncompressed_size}", offset=offset
        )
    if check_crc and chunk.crc and zlib.crc32(data) != chunk.crc:
        raise LogFormatError("MCAP chunk fails its CRC check", offset=offset)
    return data


__all__ = [
    "MAGIC",
    "Channel",
    "Chunk",
    "ChunkIndex",
    "Reader",
    "Schema",
    "Statistics",
    "decompress",
    "records",
]
