"""Reading and writing indexed containers (`.pdlz`) on files and streams.

The writer keeps two open chunks, one for camera frames (stored as is) and one for
every other kind (zstd); both close together at a size or an age, on `flush()`
and on `close()`, which also writes the index and trailer. The reader uses the
index when the file has one and otherwise scans chunk headers, skipping bodies by
length; it reads events in the order they were written (by sequence number),
touching only the chunks that hold the kinds and times asked for.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import io
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import zstandard

from ..errors import LogFormatError, TruncatedLogWarning
from ..events import Event
from ..formats import container as fmt
from ..formats.classic import Truncation
from ..summary import SummaryBuilder

#: Defaults of the chunking policy (see specs/container.md, "Writer policy").
CHUNK_SIZE = 1 << 20
IMAGE_CHUNK_SIZE = 8 << 20
CHUNK_AGE_NS = 1_000_000_000
LEVEL = 3

_MAX_CHUNK_HEADER = fmt.CHUNK_FIXED_SIZE + 5 * fmt.KIND_SLOTS + 4
# A stream reader yields buffered records out of sequence order once this much is held
# (only a file with lost chunks gets there; a writer's chunks interleave within a second).
_STREAM_HOLD = 64 << 20
_HELD_ENTRY = 64  # what holding one record costs besides its payload (counted for unwanted ones too)


class IndexedWriter:
    """Writes an indexed container; same interface as `ClassicWriter`.

    `write` buffers; a chunk is compressed and written when it reaches its size or
    age. `flush()` closes the open chunks and hands them to the OS, so a crash after
    it loses nothing written before it; `close()` also writes the index and syncs.
    """

    format = "indexed"

    def __init__(
        self,
        target: str | os.PathLike[str] | BinaryIO,
        *,
        metadata: dict[str, Any] | None = None,
        level: int = LEVEL,
        chunk_size: int = CHUNK_SIZE,
        image_chunk_size: int = IMAGE_CHUNK_SIZE,
        chunk_age_ns: int = CHUNK_AGE_NS,
    ) -> None:
        header: dict[str, Any] = {
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "time_source": "received",
        }
        header.update(metadata or {})
        encoded = fmt.encode_header(header)  # ValueError before the file is created
        if isinstance(target, (str, os.PathLike)):
            self.path: str | None = os.fspath(target)
            self._file: BinaryIO = open(target, "wb")  # noqa: SIM115
            self._owned = True
        else:
            self.path = getattr(target, "name", None) if isinstance(getattr(target, "name", None), str) else None
            self._file = target
            self._owned = False
        self.metadata = header
        self._compressor = zstandard.ZstdCompressor(level=level)
        self._chunk_size = chunk_size
        self._image_chunk_size = image_chunk_size
        self._age = chunk_age_ns
        self._sensors: list[tuple[int, int, bytes]] = []
        self._images: list[tuple[int, int, bytes]] = []
        self._sensor_bytes = 0
        self._image_bytes = 0
        self._open_since: int | None = None
        self._chunks: list[fmt.ChunkInfo] = []
        self._summary = SummaryBuilder()
        self.events_written = 0
        self.bytes_written = 0
        self.closed = False
        self._failed: BaseException | None = None
        self._put(encoded)
        self.flush()  # the header reaches the file at once: a recorder killed early leaves a readable empty log

    def _put(self, data: bytes) -> None:
        self._check_failed()
        try:
            self._file.write(data)
        except BaseException as exc:
            # Part of `data` may be on disk: offsets from here on are unknown, so nothing more is written.
            self._failed = exc
            raise
        self.bytes_written += len(data)

    def _check_failed(self) -> None:
        if self._failed is not None:
            raise OSError(
                getattr(self._failed, "errno", None),
                f"an earlier write to {self.path or 'the log'} failed ({self._failed}); "
                "the file ends at its last complete chunk and reads by scanning",
            )

    def write(self, payload: bytes, received_ns: int | None = None) -> None:
        """Append one event received at `received_ns` (Unix ns; now if None).

        After a failed write (a full disk) every further write raises `OSError`.
        """
        if self.closed:
            raise ValueError("write to a closed log writer")
        self._check_failed()
        t = time.time_ns() if received_ns is None else received_ns
        if self._open_since is None:
            self._open_since = t
        elif t - self._open_since >= self._age:
            self._close_chunks()
            self._open_since = t
        size = len(payload)
        code = fmt.kind_code(payload)
        if code == fmt.IMAGE_CODE:
            self._images.append((self.events_written, t, payload))
            self._image_bytes += size
        else:
            self._sensors.append((self.events_written, t, payload))
            self._sensor_bytes += size
        self.events_written += 1
        self._summary.add(fmt.KIND_NAMES[code], size, t)
        if self._sensor_bytes >= self._chunk_size or self._image_bytes >= self._image_chunk_size:
            self._close_chunks()

    def _close_chunks(self) -> None:
        # Each lane is emptied as soon as its chunk is written, so a failure in the other never writes it twice.
        if self._sensors:
            self._write_chunk(self._sensors, self._compressor)
            self._sensors = []
            self._sensor_bytes = 0
        if self._images:
            self._write_chunk(self._images, None)
            self._images = []
            self._image_bytes = 0
        self._open_since = None

    def _write_chunk(self, records: list[tuple[int, int, bytes]], compressor: zstandard.ZstdCompressor | None) -> None:
        data = fmt.encode_chunk(records, records[0][0], compressor=compressor)
        info = fmt.decode_chunk_header(data, self.bytes_written)
        self._put(data)  # one write: a crash leaves at most this chunk incomplete
        self._chunks.append(info)

    def flush(self) -> None:
        """Close the open chunks and hand everything to the operating system."""
        self._close_chunks()
        try:
            self._file.flush()
        except BaseException as exc:
            self._failed = exc
            raise

    def sync(self) -> None:
        """Flush and ask the operating system to put the file on disk."""
        self.flush()
        with contextlib.suppress(OSError, AttributeError, io.UnsupportedOperation):
            os.fsync(self._file.fileno())

    def statistics(self) -> dict[str, Any]:
        """The statistics the index will hold: what `summary()` reports without a scan."""
        return self._summary.to_stats()

    def close(self) -> None:
        """Write the last chunks, the index and the trailer; sync; close (a file object passed in is not closed).

        After a failed write it only closes: the file has no index and reads by scanning.
        """
        if self.closed:
            return
        self.closed = True
        try:
            if self._failed is not None:
                return
            self._close_chunks()
            index_offset = self.bytes_written
            index = fmt.encode_index(
                fmt.Index.from_chunks(self._chunks, self.statistics()), compressor=self._compressor
            )
            self._put(index)
            self._put(fmt.encode_trailer(index_offset, len(index)))
            self._file.flush()
            with contextlib.suppress(OSError, AttributeError, io.UnsupportedOperation):
                os.fsync(self._file.fileno())
        finally:
            if self._owned:
                if self._failed is None:
                    self._file.close()
                else:  # closing flushes what the failed write left buffered, and fails again
                    with contextlib.suppress(OSError):
                        self._file.close()

    def __enter__(self) -> IndexedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class ChunkTruncation(Truncation):
    """A container that ends inside a chunk (or its header): the rest of the file is that chunk's first bytes."""

    def __str__(self) -> str:
        return f"file ends inside the chunk at byte {self.offset}: {self.available} of {self.needed} bytes present"


@dataclass(frozen=True)
class HeaderTruncation(Truncation):
    """A container that ends inside its file header: nothing was recorded."""

    def __str__(self) -> str:
        return f"file ends inside the header, nothing recorded: {self.available} of {self.needed} bytes present"


def _cut_header(head: bytes, size: int) -> HeaderTruncation | None:
    """The truncation of a file of `size` bytes starting with `head` that ends inside its header, else None."""
    if not head or not (fmt.MAGIC.startswith(head[: len(fmt.MAGIC)]) or fmt.is_container(head)):
        return None
    if len(head) < fmt.FILE_HEAD_SIZE:
        return HeaderTruncation(0, fmt.FILE_HEAD_SIZE, size)
    need = fmt.header_size_needed(head)
    return HeaderTruncation(0, need, size) if size < need else None


@dataclass(frozen=True)
class Damage:
    """A stretch of a container that cannot be read: where, and why."""

    offset: int
    reason: str

    def __str__(self) -> str:
        return f"byte {self.offset}: {self.reason}"


def _codes(kinds: Iterable[str] | None) -> frozenset[int] | None:
    if kinds is None:
        return None
    return frozenset(fmt.KIND_CODES.get(k, 0) for k in kinds)


class IndexedReader:
    """An indexed container opened for reading (a regular file; see `read_indexed_stream` for pipes).

    With a valid index, opening reads the header, trailer and index only. Without
    one (a file cut short, a recorder killed) it scans the chunk headers, skipping
    bodies by length. `lenient` skips corrupt chunks and lists them in `problems`;
    otherwise reading raises `LogFormatError` at the first one, after every event
    before it. Several threads may read the same reader at once.
    """

    def __init__(self, path: str | os.PathLike[str], *, lenient: bool = False, verify: bool = True) -> None:
        self.path = os.fspath(path)
        self.lenient = lenient
        #: Whether chunk bodies' checksums are checked on reading (the columns are checked always).
        self.verify = verify
        self._fd = os.open(self.path, os.O_RDONLY)
        try:
            self._open()
        except BaseException:
            os.close(self._fd)
            raise

    def _open(self) -> None:
        self.file_size = size = os.fstat(self._fd).st_size
        #: Problems met so far: corrupt chunks skipped, a missing or unreadable index.
        self.problems: list[Damage] = []
        #: The chunk the file ends inside, if it was cut short.
        self.truncation: Truncation | None = None
        head = self._pread(fmt.FILE_HEAD_SIZE, 0)
        try:
            cut = _cut_header(head, size)
            if cut is not None:  # a recorder killed while writing the header: an empty log, cut short
                self.truncation = cut
                self.metadata, self.header_size = {}, size
            else:
                header_size = fmt.header_size_needed(head)
                self.metadata, self.header_size = fmt.decode_header(self._pread(header_size, 0))
        except LogFormatError as exc:
            if not (self.lenient and fmt.is_container(head)):
                raise LogFormatError(exc.reason, path=self.path, offset=exc.offset) from None
            # The metadata is lost, the chunks need not be: start at the first valid chunk.
            self.problems.append(Damage(exc.offset or 0, f"header unreadable ({exc.reason}); metadata lost"))
            self.metadata = {}
            first = self._resync(len(fmt.MAGIC))
            self.header_size = size if first is None else first
        self.index: fmt.Index | None = None
        self.data_end = size
        found = None
        if size >= self.header_size + fmt.TRAILER_SIZE:
            found = fmt.decode_trailer(self._pread(fmt.TRAILER_SIZE, size - fmt.TRAILER_SIZE), size)
        if found is not None:
            index_offset, index_size = found
            try:
                block = self._pread(index_size, index_offset)
                rows = fmt.max_index_rows(self.header_size, index_offset)
                index = fmt.decode_index(block, index_offset, max_rows=rows)
                self._check_index(index, index_offset)
                try:
                    SummaryBuilder.from_stats(index.stats)
                except ValueError as exc:
                    raise LogFormatError(f"index {exc}", offset=index_offset) from None
                self.index = index
                self.data_end = index_offset
            except LogFormatError as exc:
                self.problems.append(Damage(exc.offset or index_offset, f"index unreadable ({exc.reason}); scanned"))
        #: Whether the file has a valid index (else its chunks were found by a scan).
        self.indexed = self.index is not None
        if self.index is None:
            self.index = fmt.Index.from_chunks(self._scan(), {})
        #: Statistics from the index (None for a file read by scanning).
        self.stats: dict[str, Any] | None = self.index.stats if self.indexed else None
        self._masks: list[int] | None = None
        self._damage_seen: set[int] = set()

    def _check_index(self, index: fmt.Index, index_offset: int) -> None:
        last = self.header_size - 1
        for off in index.offsets:
            if off <= last or off >= index_offset:
                raise LogFormatError("index points outside the chunk area", offset=index_offset)
            last = off

    def _pread(self, n: int, offset: int) -> bytes:
        return os.pread(self._fd, n, offset) if n > 0 and offset >= 0 else b""

    def _scan(self) -> list[fmt.ChunkInfo]:
        """Find every complete chunk by walking chunk headers; resynchronise past damage."""
        chunks: list[fmt.ChunkInfo] = []
        pos = self.header_size
        size = self.file_size
        while pos < size:
            fixed = self._pread(fmt.CHUNK_FIXED_SIZE, pos)
            if fixed[:4] == fmt.INDEX_MAGIC or (len(fixed) < 4 and fmt.INDEX_MAGIC.startswith(fixed)):
                self.data_end = pos
                return chunks  # an index (or the start of one) without its trailer: the chunk area ends here
            if len(fixed) < fmt.CHUNK_FIXED_SIZE and fmt.CHUNK_MAGIC.startswith(fixed[:4]):
                self._cut(pos, fmt.CHUNK_FIXED_SIZE)
                return chunks
            reason = None
            if fixed[:4] != fmt.CHUNK_MAGIC:
                reason = f"expected a chunk, found {fixed[:4]!r}"
            else:
                need = fmt.chunk_header_size(fixed, pos)
                if pos + need > size:
                    self._cut(pos, need)
                    return chunks
                try:
                    info = fmt.decode_chunk_header(self._pread(need, pos), pos)
                except LogFormatError as exc:
                    reason = exc.reason
            if reason is not None:
                self.problems.append(Damage(pos, reason))
                nxt = self._resync(pos + 1)
                if nxt is None:
                    self.data_end = pos
                    return chunks
                pos = nxt
                continue
            if info.end_offset > size:
                self._cut(pos, info.header_size + info.stored_size)
                return chunks
            chunks.append(info)
            pos = info.end_offset
        self.data_end = pos
        return chunks

    def _cut(self, pos: int, needed: int) -> None:
        self.truncation = ChunkTruncation(pos, needed, self.file_size - pos)
        self.data_end = pos

    def _resync(self, pos: int) -> int | None:
        """The offset of the next valid chunk header at or after `pos`, if any."""
        block = 1 << 20
        while pos < self.file_size:
            data = self._pread(block + 3, pos)
            at = data.find(fmt.CHUNK_MAGIC)
            while at >= 0:
                try:
                    cand = pos + at
                    info = fmt.decode_chunk_header(self._pread(_MAX_CHUNK_HEADER, cand)[:_MAX_CHUNK_HEADER], cand)
                    if info.end_offset <= self.file_size:
                        return cand
                except LogFormatError:
                    pass
                at = data.find(fmt.CHUNK_MAGIC, at + 1)
            pos += block
        return None

    # ------------------------------------------------------------ reading

    @property
    def chunk_count(self) -> int:
        assert self.index is not None
        return len(self.index)

    def _kind_masks(self) -> list[int]:
        if self._masks is None:
            assert self.index is not None
            self._masks = [self.index.kind_mask(i) for i in range(len(self.index))]
        return self._masks

    def select(self, kinds: Iterable[str] | None = None, lo: int | None = None, hi: int | None = None) -> list[int]:
        """Indexes of the chunks that may hold events of `kinds` with receive time in [lo, hi)."""
        index = self.index
        assert index is not None
        ids: Iterable[int] = range(len(index))
        if lo is not None or hi is not None:
            lo_ = lo if lo is not None else -(1 << 63)
            hi_ = hi if hi is not None else 1 << 63
            ids = [i for i, s, e in zip(ids, index.starts, index.ends, strict=True) if e >= lo_ and s < hi_]
        codes = _codes(kinds)
        if codes is not None:
            want = sum(1 << c for c in codes)
            masks = self._kind_masks()
            ids = [i for i in ids if masks[i] & want]
        return sorted(ids, key=index.first_seqs.__getitem__)

    def read_chunk(self, i: int) -> tuple[fmt.ChunkInfo, fmt.ChunkRecords]:
        """Chunk `i`'s header and records; `LogFormatError` if it is corrupt."""
        index = self.index
        assert index is not None
        offset = index.offsets[i]
        try:
            info = fmt.decode_chunk_header(self._pread(_MAX_CHUNK_HEADER, offset), offset)
            if info.first_seq != index.first_seqs[i] or info.records != index.records[i]:
                raise LogFormatError("chunk header disagrees with the index", offset=offset)
            if info.end_offset > self.data_end:
                raise LogFormatError("chunk runs past the end of the chunk area", offset=offset)
            body = self._pread(info.stored_size, info.body_offset)
            return info, fmt.decode_chunk_body(info, body, verify=self.verify)
        except LogFormatError as exc:
            raise LogFormatError(exc.reason, path=self.path, offset=exc.offset) from None

    def _load(self, i: int) -> tuple[fmt.ChunkInfo, fmt.ChunkRecords] | None:
        try:
            return self.read_chunk(i)
        except LogFormatError as exc:
            if not self.lenient:
                raise
            if exc.offset not in self._damage_seen:
                self._damage_seen.add(exc.offset)  # type: ignore[arg-type]
                self.problems.append(Damage(exc.offset or 0, exc.reason))
            return None

    def events(
        self,
        kinds: Iterable[str] | None = None,
        lo: int | None = None,
        hi: int | None = None,
        *,
        warn: bool = True,
        on_chunk: Callable[[fmt.ChunkInfo, fmt.ChunkRecords], None] | None = None,
    ) -> Iterator[Event]:
        """Events in the order written, of `kinds` (None: all) with receive time in [lo, hi).

        A file cut short is reported once per read as a `TruncatedLogWarning` unless `warn` is false.
        `on_chunk` is called with each chunk read (a check like `verify` sees every chunk once).
        """
        chosen = frozenset(kinds) if kinds is not None else None
        ids = self.select(chosen, lo, hi)
        stop = self._first_damage()
        if stop is not None and not self.lenient:
            assert self.index is not None
            ids = [i for i in ids if self.index.offsets[i] < stop.offset]
        loaded = self._loaded(ids, on_chunk)
        yield from _merge(ids, self.index.first_seqs, loaded, _codes(chosen), lo, hi, self.path)  # type: ignore[union-attr]
        if stop is not None and not self.lenient:
            raise LogFormatError(stop.reason, path=self.path, offset=stop.offset)
        if self.truncation is not None and warn:
            warnings.warn(f"{self.path}: {self.truncation}", TruncatedLogWarning, stacklevel=2)

    def _loaded(
        self, ids: list[int], on_chunk: Callable[[fmt.ChunkInfo, fmt.ChunkRecords], None] | None = None
    ) -> Iterator[tuple[fmt.ChunkInfo, fmt.ChunkRecords] | None]:
        # A read-ahead thread was tried: on two shared cores the hand-offs cost more than they saved.
        for i in ids:
            chunk = self._load(i)
            if chunk is not None and on_chunk is not None:
                on_chunk(*chunk)
            yield chunk

    def _first_damage(self) -> Damage | None:
        damage = [d for d in self.problems if not d.reason.startswith(("index unreadable", "header unreadable"))]
        return min(damage, key=lambda d: d.offset) if damage else None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> IndexedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _positions(recs: fmt.ChunkRecords, codes: frozenset[int] | None, lo: int | None, hi: int | None) -> list[int]:
    n = len(recs.times)
    if codes is None and lo is None and hi is None:
        return list(range(n))
    lo_ = lo if lo is not None else -(1 << 80)
    hi_ = hi if hi is not None else 1 << 80
    if codes is None:
        return [j for j, t in enumerate(recs.times) if lo_ <= t < hi_]
    return [j for j, (k, t) in enumerate(zip(recs.kinds, recs.times, strict=True)) if k in codes and lo_ <= t < hi_]


def _emit(info: fmt.ChunkInfo, recs: fmt.ChunkRecords, picks: list[int], path: str | None) -> Iterator[Event]:
    body, starts, ends, times, kinds = recs.body, recs.starts, recs.ends, recs.times, recs.kinds
    names = fmt.KIND_NAMES
    offset = info.offset
    for j in picks:
        yield Event(body[starts[j] : ends[j]], offset, times[j], kind=names[kinds[j]], path=path)


def _merge(
    ids: list[int],
    first_seqs: list[int],
    loaded: Iterator[tuple[fmt.ChunkInfo, fmt.ChunkRecords] | None],
    codes: frozenset[int] | None,
    lo: int | None,
    hi: int | None,
    path: str | None,
) -> Iterator[Event]:
    """Events of chunks `ids` (sorted by first sequence number) in sequence order.

    A chunk whose records all come before the next chunk's is emitted in one go;
    overlapping chunks (camera frames and sensors written side by side) are merged
    record by record.
    """
    pending = list(reversed(ids))
    heap: list[tuple[int, int, int, list[int], fmt.ChunkInfo, fmt.ChunkRecords]] = []
    names = fmt.KIND_NAMES
    while pending or heap:
        while pending and (not heap or first_seqs[pending[-1]] <= heap[0][0]):
            i = pending.pop()
            chunk = next(loaded)  # `loaded` holds the chunks of `ids` in that order
            if chunk is None:
                continue
            info, recs = chunk
            picks = _positions(recs, codes, lo, hi)
            if picks:
                heapq.heappush(heap, (recs.seqs[picks[0]], i, 0, picks, info, recs))
        if not heap:
            continue
        _, i, k, picks, info, recs = heap[0]
        if len(heap) == 1 and (not pending or first_seqs[pending[-1]] > recs.seqs[picks[-1]]):
            heapq.heappop(heap)
            yield from _emit(info, recs, picks[k:] if k else picks, path)
            continue
        j = picks[k]
        yield Event(
            recs.body[recs.starts[j] : recs.ends[j]], info.offset, recs.times[j], kind=names[recs.kinds[j]], path=path
        )
        k += 1
        if k < len(picks):
            heapq.heapreplace(heap, (recs.seqs[picks[k]], i, k, picks, info, recs))
        else:
            heapq.heappop(heap)


def _read_exact(f: BinaryIO, n: int) -> bytes:
    parts = []
    while n > 0:
        block = f.read(n)
        if not block:
            break
        parts.append(block)
        n -= len(block)
    return b"".join(parts)


def read_indexed_stream(
    f: BinaryIO,
    *,
    kinds: Iterable[str] | None = None,
    lo: int | None = None,
    hi: int | None = None,
    lenient: bool = False,
    path: str | None = None,
    problems: list[Damage] | None = None,
) -> Iterator[Event]:
    """Events of a container read front to back from a stream (a pipe, a socket): no seeking, no index.

    Events come in the order written. A stream cut short ends cleanly with a
    `TruncatedLogWarning`; a corrupt chunk raises `LogFormatError`, or with `lenient`
    is skipped and added to `problems`.
    """
    codes = _codes(kinds)
    head = _read_exact(f, fmt.FILE_HEAD_SIZE)
    try:
        if len(head) < fmt.FILE_HEAD_SIZE and _cut_header(head, len(head)) is not None:
            warnings.warn(f"{path or 'stream'}: {_cut_header(head, len(head))}", TruncatedLogWarning, stacklevel=2)
            return
        need = fmt.header_size_needed(head)
        rest = _read_exact(f, need - len(head))
        if len(head) + len(rest) < need:
            cut = HeaderTruncation(0, need, len(head) + len(rest))
            warnings.warn(f"{path or 'stream'}: {cut}", TruncatedLogWarning, stacklevel=2)
            return
        fmt.decode_header(head + rest)
    except LogFormatError as exc:
        raise LogFormatError(exc.reason, path=path, offset=exc.offset) from None
    pos = need
    heap: list[tuple[int, int, Event | None]] = []
    order = 0
    held = 0
    next_seq = 0
    cut: Truncation | None = None
    while True:
        fixed = _read_exact(f, fmt.CHUNK_FIXED_SIZE)
        if fixed[:4] == fmt.INDEX_MAGIC or (len(fixed) < 4 and fmt.INDEX_MAGIC.startswith(fixed)):
            break  # the index, or nothing more
        if len(fixed) < fmt.CHUNK_FIXED_SIZE and fmt.CHUNK_MAGIC.startswith(fixed[:4]):
            cut = ChunkTruncation(pos, fmt.CHUNK_FIXED_SIZE, len(fixed))
            break
        try:
            hsize = fmt.chunk_header_size(fixed, pos)
            rest = _read_exact(f, hsize - len(fixed))
            if len(rest) < hsize - len(fixed):
                cut = ChunkTruncation(pos, hsize, len(fixed) + len(rest))
                break
            info = fmt.decode_chunk_header(fixed + rest, pos)
        except LogFormatError as exc:
            # Without a sound header there is no length to skip by: a stream cannot go on.
            if not lenient:
                raise LogFormatError(exc.reason, path=path, offset=exc.offset) from None
            if problems is not None:
                problems.append(Damage(pos, f"{exc.reason}; rest of the stream not read"))
            break
        body = _read_exact(f, info.stored_size)
        if len(body) < info.stored_size:
            cut = ChunkTruncation(pos, info.header_size + info.stored_size, info.header_size + len(body))
            break
        pos = info.end_offset
        try:
            recs = fmt.decode_chunk_body(info, body)
        except LogFormatError as exc:
            if not lenient:
                raise LogFormatError(exc.reason, path=path, offset=exc.offset) from None
            if problems is not None:
                problems.append(Damage(info.offset, exc.reason))
            continue
        for j in _positions(recs, None, None, None):
            seq = recs.seqs[j]
            if (
                (codes is None or recs.kinds[j] in codes)
                and (lo is None or recs.times[j] >= lo)
                and (hi is None or recs.times[j] < hi)
            ):
                e = Event(
                    recs.body[recs.starts[j] : recs.ends[j]],
                    info.offset,
                    recs.times[j],
                    kind=fmt.KIND_NAMES[recs.kinds[j]],
                    path=path,
                )
                held += len(e.payload)
            else:
                e = None  # not wanted, but its sequence number still orders the others
            held += _HELD_ENTRY
            heapq.heappush(heap, (seq, order, e))
            order += 1
        while heap and (heap[0][0] <= next_seq or held > _STREAM_HOLD):
            seq, _, e = heapq.heappop(heap)
            next_seq = max(next_seq, seq + 1)
            held -= _HELD_ENTRY
            if e is not None:
                held -= len(e.payload)
                yield e
    while heap:
        e = heapq.heappop(heap)[2]
        if e is not None:
            yield e
    if cut is not None:
        warnings.warn(f"{path or 'stream'}: {cut}", TruncatedLogWarning, stacklevel=2)


__all__ = [
    "ChunkTruncation",
    "Damage",
    "HeaderTruncation",
    "IndexedReader",
    "IndexedWriter",
    "read_indexed_stream",
]
