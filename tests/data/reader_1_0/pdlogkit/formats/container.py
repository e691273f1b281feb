"""The indexed container format (`.pdlz`), version 1: pure codecs, no I/O.

    file    := header chunk* [index trailer]
    header  := magic version metadata-JSON crc
    chunk   := chunk-header body        (body: columns of receive times, sequence
                                         numbers, kinds, lengths, then the payloads;
                                         zstd-compressed or stored as is)
    index   := index-header body        (per-chunk offsets, time ranges, counts per
                                         kind, and statistics JSON)
    trailer := index offset and size, crc, end magic (fixed size, last bytes)

`specs/container.md` is the full specification. Every parser here works on bytes,
takes the file offset of what it parses, and raises `LogFormatError` naming that
offset; sizes are checked against limits before anything is allocated for them.
"""

from __future__ import annotations

import enum
import json
import struct
import threading
import zlib
from array import array
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import zstandard

from ..errors import LogFormatError
from ..events import KINDS
from .common import json_object

MAGIC = b"\x89PDLZ\r\n\x1a"
VERSION = (1, 0)

#: Kind codes on disk: the oneof field number (1..12); 0 for a payload of no known kind.
KIND_CODES: dict[str, int] = {kind: number for number, kind in enumerate(KINDS, start=1)}
KIND_NAMES: tuple[str, ...] = ("unknown", *KINDS, "unknown", "unknown", "unknown")
KIND_SLOTS = 16  # codes 0..15: the width of the per-kind count table in the index
IMAGE_CODE = KIND_CODES["image"]
# First payload byte -> kind code: fields 1..12 with wire type 2 have tag (n << 3) | 2.
_CODE_BY_FIRST_BYTE = bytes((b >> 3) if b & 7 == 2 and 1 <= b >> 3 <= len(KINDS) else 0 for b in range(256))


def kind_code(payload: bytes) -> int:
    """The kind code of a payload (0 when it is of no known kind)."""
    return _CODE_BY_FIRST_BYTE[payload[0]] if payload else 0


# File header: magic, major, minor, metadata length; then metadata JSON and a crc32.
_FILE_HEAD = struct.Struct("<8sHHI")
FILE_HEAD_SIZE = _FILE_HEAD.size
MAX_METADATA_SIZE = 1 << 20

# Chunk header: magic, flags, kind entries, reserved, records, stored size, raw size,
# first sequence number, start ns, end ns, body crc; then kind entries and a header crc.
CHUNK_MAGIC = b"PDZC"
_CHUNK_HEAD = struct.Struct("<4sBBHIIIQqqI")
CHUNK_FIXED_SIZE = _CHUNK_HEAD.size  # 48
_KIND_ENTRY = struct.Struct("<BI")
#: The most bytes a valid chunk header takes (one entry per kind code): what a walker reads at a position.
MAX_CHUNK_HEADER = CHUNK_FIXED_SIZE + _KIND_ENTRY.size * KIND_SLOTS + 4
FLAG_ZSTD = 0x01
#: Largest chunk body a reader accepts: far above what a writer makes (a few MB),
#: far below what would exhaust memory.
MAX_CHUNK_SIZE = 256 << 20
RECORD_OVERHEAD = 8 + 4 + 1 + 4  # per record in the body: time delta, seq delta, kind, length
#: No zstd frame expands more than this: a 4-byte RLE block (3-byte header, 1 byte) makes at most 128 KiB.
MAX_ZSTD_RATIO = 1 << 15

# Index block: magic, flags, reserved, stored size, raw size, body crc.
INDEX_MAGIC = b"PDZI"
_INDEX_HEAD = struct.Struct("<4sB3sIII")
INDEX_HEAD_SIZE = _INDEX_HEAD.size  # 20
_INDEX_COUNTS = struct.Struct("<II")
#: Largest raw index a reader accepts (about ten million chunks' rows, or 10 TB of log).
MAX_INDEX_SIZE = 1 << 30
#: No chunk is smaller: a header with one kind entry and a body of at least one byte.
MIN_CHUNK_SIZE = CHUNK_FIXED_SIZE + _KIND_ENTRY.size + 4 + 1
INDEX_ROW_SIZE = 8 + 8 + 4 + 8 + 8 + 1 + 4 * KIND_SLOTS  # 101

# Trailer: index offset, index size, crc32 of those 16 bytes, end magic.
END_MAGIC = b"PDLZ-END"
_TRAILER = struct.Struct("<QQI8s")
TRAILER_SIZE = _TRAILER.size  # 28


# ---------------------------------------------------------------- file header


def encode_header(metadata: dict[str, Any]) -> bytes:
    """The file header holding `metadata` (a JSON object)."""
    meta = json.dumps(metadata, sort_keys=True, separators=(",", ":"), default=str).encode()
    if len(meta) > MAX_METADATA_SIZE:
        raise ValueError(f"metadata is {len(meta)} bytes of JSON; at most {MAX_METADATA_SIZE} fit in the header")
    head = _FILE_HEAD.pack(MAGIC, *VERSION, len(meta)) + meta
    return head + struct.pack("<I", zlib.crc32(head))


def is_container(prefix: bytes) -> bool:
    """Whether bytes start like an indexed container (the 8-byte magic)."""
    return prefix[: len(MAGIC)] == MAGIC


def header_size_needed(head: bytes) -> int:
    """The full header's size, from its first `FILE_HEAD_SIZE` bytes (validated)."""
    if len(head) < FILE_HEAD_SIZE or not is_container(head):
        raise LogFormatError("not an indexed container (bad magic)", offset=0)
    _, major, _minor, meta_len = _FILE_HEAD.unpack_from(head)
    if major != VERSION[0]:
        raise LogFormatError(f"container version {major} is not supported (this reader knows {VERSION[0]})", offset=8)
    if meta_len > MAX_METADATA_SIZE:
        raise LogFormatError(f"header declares {meta_len} bytes of metadata, over the limit", offset=12)
    return FILE_HEAD_SIZE + meta_len + 4


def decode_header(data: bytes) -> tuple[dict[str, Any], int]:
    """Parse the file header at the start of `data`: (metadata, header size)."""
    size = header_size_needed(data[:FILE_HEAD_SIZE])
    if len(data) < size:
        raise LogFormatError(f"file ends inside the {size}-byte header", offset=len(data))
    (crc,) = struct.unpack_from("<I", data, size - 4)
    if crc != zlib.crc32(data[: size - 4]):
        raise LogFormatError("header checksum mismatch", offset=0)
    return json_object(data[FILE_HEAD_SIZE : size - 4], "header metadata", FILE_HEAD_SIZE), size


# ---------------------------------------------------------------- chunks


@dataclass(frozen=True)
class ChunkInfo:
    """What a chunk header says: where the chunk is, what it holds and when."""

    offset: int
    header_size: int
    flags: int
    records: int
    stored_size: int
    raw_size: int
    first_seq: int
    start_ns: int
    end_ns: int
    body_crc: int
    counts: dict[int, int] = field(default_factory=dict)  # kind code -> records

    @property
    def body_offset(self) -> int:
        return self.offset + self.header_size

    @property
    def end_offset(self) -> int:
        """Offset just past the chunk."""
        return self.offset + self.header_size + self.stored_size

    @property
    def compressed(self) -> bool:
        return bool(self.flags & FLAG_ZSTD)


@dataclass
class ChunkRecords:
    """A chunk's records as columns: receive times, sequence numbers, kind codes, payload spans in `body`."""

    times: list[int]
    seqs: list[int]
    kinds: bytes
    starts: list[int]
    ends: list[int]
    body: bytes | memoryview


def encode_chunk(
    records: list[tuple[int, int, bytes]],
    first_seq: int,
    *,
    compressor: zstandard.ZstdCompressor | None = None,
) -> bytes:
    """A whole chunk (header and body) holding `records` of (seq, received_ns, payload), in sequence order.

    With a `compressor` the body is zstd-compressed, else stored as is.
    """
    n = len(records)
    if not n:
        raise ValueError("a chunk holds at least one record")
    times = array("q")
    seqs = array("I")
    lengths = array("I")
    kinds = bytearray(n)
    counts: dict[int, int] = {}
    prev_t = 0
    prev_s = first_seq
    start = end = records[0][1]
    code_of = _CODE_BY_FIRST_BYTE
    for i, (seq, t, payload) in enumerate(records):
        times.append(t - prev_t)
        seqs.append(seq - prev_s)
        prev_t, prev_s = t, seq
        code = code_of[payload[0]] if payload else 0
        kinds[i] = code
        counts[code] = counts.get(code, 0) + 1
        lengths.append(len(payload))
        if t < start:
            start = t
        elif t > end:
            end = t
    if times.itemsize != 8 or seqs.itemsize != 4 or lengths.itemsize != 4:  # pragma: no cover - exotic platforms
        raise RuntimeError("array item sizes differ from the format's")
    if array("I", [1]).tobytes() != b"\x01\x00\x00\x00":  # pragma: no cover - big-endian hosts
        times.byteswap()
        seqs.byteswap()
        lengths.byteswap()
    raw = b"".join([times.tobytes(), seqs.tobytes(), bytes(kinds), lengths.tobytes(), *(r[2] for r in records)])
    if len(raw) > MAX_CHUNK_SIZE:
        raise ValueError(f"chunk of {len(raw)} bytes is over the {MAX_CHUNK_SIZE}-byte limit")
    if compressor is not None:
        body = compressor.compress(raw)
        flags = FLAG_ZSTD
    else:
        body = raw
        flags = 0
    entries = sorted(counts.items())
    head = _CHUNK_HEAD.pack(
        CHUNK_MAGIC, flags, len(entries), 0, n, len(body), len(raw), first_seq, start, end, zlib.crc32(body)
    ) + b"".join(_KIND_ENTRY.pack(code, count) for code, count in entries)
    return head + struct.pack("<I", zlib.crc32(head)) + body


def chunk_header_size(fixed: bytes, offset: int = 0) -> int:
    """A chunk header's full size from its first `CHUNK_FIXED_SIZE` bytes."""
    if len(fixed) < CHUNK_FIXED_SIZE:
        raise LogFormatError("data ends inside a chunk header", offset=offset)
    if fixed[:4] != CHUNK_MAGIC:
        raise LogFormatError(f"expected a chunk, found {bytes(fixed[:4])!r}", offset=offset)
    if fixed[5] > KIND_SLOTS:
        raise LogFormatError(f"chunk header declares {fixed[5]} kind entries (at most {KIND_SLOTS})", offset=offset)
    return CHUNK_FIXED_SIZE + _KIND_ENTRY.size * fixed[5] + 4


def decode_chunk_header(data: bytes | memoryview, offset: int = 0) -> ChunkInfo:
    """Parse and check the chunk header at the start of `data` (found at file `offset`)."""
    size = chunk_header_size(data[:CHUNK_FIXED_SIZE], offset)
    if len(data) < size:
        raise LogFormatError("data ends inside a chunk header", offset=offset)
    (crc,) = struct.unpack_from("<I", data, size - 4)
    if crc != zlib.crc32(data[: size - 4]):
        raise LogFormatError("chunk header checksum mismatch", offset=offset)
    _, flags, k, _, n, stored, raw, first_seq, start, end, body_crc = _CHUNK_HEAD.unpack_from(data)
    if flags & ~FLAG_ZSTD:
        raise LogFormatError(f"chunk has unknown flags 0x{flags:02x}", offset=offset + 4)
    if raw > MAX_CHUNK_SIZE or stored > MAX_CHUNK_SIZE:
        raise LogFormatError(f"chunk declares {max(raw, stored)} bytes, over the {MAX_CHUNK_SIZE} limit", offset=offset)
    if n == 0:
        raise LogFormatError("chunk declares no records (a chunk holds at least one)", offset=offset + 8)
    if n * RECORD_OVERHEAD > raw or (not flags & FLAG_ZSTD and stored != raw) or raw > stored * MAX_ZSTD_RATIO:
        raise LogFormatError("chunk sizes are inconsistent with its record count", offset=offset)
    counts = {}
    for i in range(k):
        code, count = _KIND_ENTRY.unpack_from(data, CHUNK_FIXED_SIZE + i * _KIND_ENTRY.size)
        counts[code] = count
    if sum(counts.values()) != n or any(code >= KIND_SLOTS for code in counts):
        raise LogFormatError("chunk's counts per kind do not add up to its record count", offset=offset)
    return ChunkInfo(offset, size, flags, n, stored, raw, first_seq, start, end, body_crc, counts)


# zstd (de)compressor objects must not be shared between threads: one per thread.
_local = threading.local()


def _decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_local, "decompressor", None)
    if d is None:
        d = _local.decompressor = zstandard.ZstdDecompressor()
    return d


def _decompress(stored: bytes | memoryview, raw_size: int, what: str, offset: int) -> bytes:
    """Decompress one zstd frame that must make exactly `raw_size` bytes, allocating no more than that.

    python-zstandard allocates whatever the frame header declares, whatever
    `max_output_size` says: a declared size other than `raw_size` is refused first.
    """
    try:
        declared = zstandard.get_frame_parameters(stored).content_size
        if declared != zstandard.CONTENTSIZE_UNKNOWN and declared != raw_size:
            raise LogFormatError(
                f"{what}'s zstd frame declares {declared} bytes, header says {raw_size}", offset=offset
            )
        # max_output_size=0 means no limit: a raw size of 0 is refused before this (at least one record).
        raw = _decompressor().decompress(stored, max_output_size=max(raw_size, 1))
    except zstandard.ZstdError as exc:
        raise LogFormatError(f"{what} does not decompress ({exc})", offset=offset) from None
    if len(raw) != raw_size:
        raise LogFormatError(f"{what} decompresses to {len(raw)} bytes, header says {raw_size}", offset=offset)
    return raw


def decode_chunk_body(info: ChunkInfo, stored: bytes | memoryview, *, verify: bool = True) -> ChunkRecords:
    """The records of a chunk from its stored body (checks crc, decompresses, validates the columns)."""
    offset = info.body_offset
    if len(stored) != info.stored_size:
        raise LogFormatError(f"chunk body is {len(stored)} bytes, header says {info.stored_size}", offset=offset)
    if verify and zlib.crc32(stored) != info.body_crc:
        raise LogFormatError("chunk body checksum mismatch (corrupt chunk)", offset=info.offset)
    if info.compressed:
        raw: bytes | memoryview = _decompress(stored, info.raw_size, "chunk body", offset)
    else:
        raw = stored
    n = info.records
    times = array("q")
    seqs = array("I")
    lengths = array("I")
    p = 0
    times.frombytes(raw[p : p + 8 * n])
    p += 8 * n
    seqs.frombytes(raw[p : p + 4 * n])
    p += 4 * n
    kinds = bytes(raw[p : p + n])
    p += n
    lengths.frombytes(raw[p : p + 4 * n])
    p += 4 * n
    if array("I", [1]).tobytes() != b"\x01\x00\x00\x00":  # pragma: no cover - big-endian hosts
        times.byteswap()
        seqs.byteswap()
        lengths.byteswap()
    ends = list(accumulate(lengths, initial=p))
    if ends[-1] != len(raw):
        raise LogFormatError("chunk's record lengths do not add up to its size", offset=offset)
    if any(kinds.count(code) != count for code, count in info.counts.items()):
        raise LogFormatError("chunk's record kinds disagree with its counts per kind", offset=offset)
    if n and (seqs[0] != 0 or (n > 1 and min(seqs[1:]) == 0)):
        raise LogFormatError("chunk's sequence numbers do not start at its first or do not increase", offset=offset)
    abs_times = list(accumulate(times))
    if n and (min(abs_times) != info.start_ns or max(abs_times) != info.end_ns):
        raise LogFormatError("chunk's receive times disagree with its header's time range", offset=offset)
    starts = ends[:-1]
    del ends[0]
    return ChunkRecords(abs_times, list(accumulate(seqs, initial=info.first_seq))[1:], kinds, starts, ends, raw)


# ---------------------------------------------------------------- walking the chunk area


class BlockKind(enum.Enum):
    """What a walker finds where the next chunk may start."""

    CHUNK = "chunk"  # a chunk whose header checks (its body is the caller's to read or skip)
    INDEX = "index"  # the index: the chunk area ends here
    END = "end"  # the end of the data, on a chunk boundary
    CUT = "cut"  # the data ends inside a chunk header (or inside "PDZ", which an index starts with too)
    ZEROS = "zeros"  # zero bytes: padding if they run to the end, else damage (the caller measures the run)
    DAMAGE = "damage"  # bytes that are no chunk: the caller searches for the next one (`find_chunk_magic`)


@dataclass(frozen=True)
class Block:
    """One step of a walk: what is at `offset`; for `CUT` the bytes the cut header or chunk declares."""

    kind: BlockKind
    offset: int
    chunk: ChunkInfo | None = None
    needed: int = 0
    reason: str = ""


def next_block(head: bytes | memoryview, offset: int, remaining: int | None) -> Block:
    """What the chunk area holds at `offset` (pure): the one walker behind every container reader.

    `head` is the data at `offset`: `MAX_CHUNK_HEADER` bytes, fewer only where the
    data ends. `remaining` is how many bytes there are from `offset` to the end of
    the data, or None while unknown (a stream still open): a chunk whose body runs
    past a known end is a cut; with an unknown end the caller finds out when it
    reads the body. Seekable, memory-mapped and stream readers all walk with this.
    """
    n = len(head)
    if n == 0:
        return Block(BlockKind.END, offset)
    magic = bytes(head[:4])
    if magic == INDEX_MAGIC:
        return Block(BlockKind.INDEX, offset)
    if magic[:1] == b"\0":
        return Block(BlockKind.ZEROS, offset)
    if n < 4 and (CHUNK_MAGIC.startswith(magic) or INDEX_MAGIC.startswith(magic)):
        return Block(BlockKind.CUT, offset, needed=CHUNK_FIXED_SIZE)
    if magic != CHUNK_MAGIC:
        return Block(BlockKind.DAMAGE, offset, reason=f"expected a chunk, found {magic!r}")
    if n < CHUNK_FIXED_SIZE:
        return Block(BlockKind.CUT, offset, needed=CHUNK_FIXED_SIZE)
    try:
        size = chunk_header_size(head[:CHUNK_FIXED_SIZE], offset)
        if n < size:
            return Block(BlockKind.CUT, offset, needed=size)
        info = decode_chunk_header(head[:size], offset)
    except LogFormatError as exc:
        return Block(BlockKind.DAMAGE, offset, reason=exc.reason)
    total = info.header_size + info.stored_size
    if remaining is not None and total > remaining:
        return Block(BlockKind.CUT, offset, info, needed=total)
    return Block(BlockKind.CHUNK, offset, info)


def find_chunk_magic(data: bytes, start: int = 0) -> int:
    """The position of the next chunk magic in `data` at or after `start`, or -1 (a resynchronisation candidate)."""
    return data.find(CHUNK_MAGIC, start)


# ---------------------------------------------------------------- index and trailer


@dataclass
class Index:
    """The index: one row per chunk (columns), and the statistics of the whole file."""

    offsets: list[int]
    first_seqs: list[int]
    records: list[int]
    starts: list[int]
    ends: list[int]
    flags: bytes
    counts: list[int]  # row-major: counts[i * KIND_SLOTS + code]
    stats: dict[str, Any]

    def __len__(self) -> int:
        return len(self.offsets)

    def kind_mask(self, i: int) -> int:
        """Bit `code` set for every kind code chunk `i` holds."""
        row = self.counts[i * KIND_SLOTS : (i + 1) * KIND_SLOTS]
        return sum(1 << code for code, n in enumerate(row) if n)

    @classmethod
    def from_chunks(cls, chunks: list[ChunkInfo], stats: dict[str, Any]) -> Index:
        counts = [0] * (KIND_SLOTS * len(chunks))
        for i, c in enumerate(chunks):
            for code, n in c.counts.items():
                counts[i * KIND_SLOTS + code] = n
        return cls(
            [c.offset for c in chunks],
            [c.first_seq for c in chunks],
            [c.records for c in chunks],
            [c.start_ns for c in chunks],
            [c.end_ns for c in chunks],
            bytes(c.flags for c in chunks),
            counts,
            stats,
        )


def encode_index(index: Index, *, compressor: zstandard.ZstdCompressor | None = None) -> bytes:
    """The index block (header and body)."""
    stats = json.dumps(index.stats, sort_keys=True, separators=(",", ":")).encode()
    n = len(index)
    cols = [
        array("Q", index.offsets),
        array("Q", index.first_seqs),
        array("I", index.records),
        array("q", index.starts),
        array("q", index.ends),
    ]
    counts = array("I", index.counts)
    if array("I", [1]).tobytes() != b"\x01\x00\x00\x00":  # pragma: no cover - big-endian hosts
        for col in (*cols, counts):
            col.byteswap()
    raw = b"".join(
        [_INDEX_COUNTS.pack(n, len(stats)), *(c.tobytes() for c in cols), index.flags, counts.tobytes(), stats]
    )
    body = compressor.compress(raw) if compressor is not None else raw
    flags = FLAG_ZSTD if compressor is not None else 0
    return _INDEX_HEAD.pack(INDEX_MAGIC, flags, b"\0\0\0", len(body), len(raw), zlib.crc32(body)) + body


def max_index_rows(header_size: int, index_offset: int) -> int:
    """How many chunks fit between the header and an index at `index_offset`."""
    return max(0, index_offset - header_size) // MIN_CHUNK_SIZE


def decode_index(data: bytes, offset: int = 0, *, max_rows: int | None = None) -> Index:
    """Parse and check an index block (`data` is exactly the block, found at file `offset`).

    `max_rows` (see `max_index_rows`) bounds the number of chunks it may list.
    """
    if len(data) < INDEX_HEAD_SIZE or data[:4] != INDEX_MAGIC:
        raise LogFormatError("no index block here", offset=offset)
    _, flags, _, stored, raw_size, crc = _INDEX_HEAD.unpack_from(data)
    if flags & ~FLAG_ZSTD or raw_size > MAX_INDEX_SIZE or stored != len(data) - INDEX_HEAD_SIZE:
        raise LogFormatError("index block header is inconsistent", offset=offset)
    body = data[INDEX_HEAD_SIZE:]
    if zlib.crc32(body) != crc:
        raise LogFormatError("index checksum mismatch", offset=offset)
    if flags & FLAG_ZSTD:
        if raw_size < _INDEX_COUNTS.size or raw_size > stored * MAX_ZSTD_RATIO:
            raise LogFormatError("index block header is inconsistent", offset=offset)
        raw = _decompress(body, raw_size, "index", offset)
    else:
        raw = body
    if len(raw) != raw_size or raw_size < _INDEX_COUNTS.size:
        raise LogFormatError("index size does not match its header", offset=offset)
    n, stats_len = _INDEX_COUNTS.unpack_from(raw)
    if max_rows is not None and n > max_rows:
        raise LogFormatError(f"index lists {n} chunks, more than fit before it ({max_rows})", offset=offset)
    if _INDEX_COUNTS.size + n * INDEX_ROW_SIZE + stats_len != raw_size:
        raise LogFormatError("index columns do not add up to its size", offset=offset)
    p = _INDEX_COUNTS.size
    cols: list[array[int]] = []
    for code, width in (("Q", 8), ("Q", 8), ("I", 4), ("q", 8), ("q", 8)):
        col = array(code)
        col.frombytes(raw[p : p + width * n])
        cols.append(col)
        p += width * n
    flags_col = bytes(raw[p : p + n])
    p += n
    counts = array("I")
    counts.frombytes(raw[p : p + 4 * KIND_SLOTS * n])
    p += 4 * KIND_SLOTS * n
    if array("I", [1]).tobytes() != b"\x01\x00\x00\x00":  # pragma: no cover - big-endian hosts
        for col in (*cols, counts):
            col.byteswap()
    stats = json_object(raw[p:], "index statistics", offset)
    offsets, first_seqs, records, starts, ends = (c.tolist() for c in cols)
    return Index(offsets, first_seqs, records, starts, ends, flags_col, counts.tolist(), stats)


def encode_trailer(index_offset: int, index_size: int) -> bytes:
    """The fixed-size trailer that ends a complete file."""
    head = struct.pack("<QQ", index_offset, index_size)
    return _TRAILER.pack(index_offset, index_size, zlib.crc32(head), END_MAGIC)


def decode_trailer(data: bytes, file_size: int) -> tuple[int, int] | None:
    """(index offset, index size) from the file's last `TRAILER_SIZE` bytes; None if they are no valid trailer."""
    if len(data) != TRAILER_SIZE:
        return None
    index_offset, index_size, crc, end = _TRAILER.unpack(data)
    if end != END_MAGIC or crc != zlib.crc32(data[:16]):
        return None
    if index_offset + index_size + TRAILER_SIZE != file_size:
        return None
    return index_offset, index_size
