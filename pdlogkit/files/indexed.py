"""Reading indexed containers (`.pdlz`): from any seekable source through the index, or from a stream.

The seekable reader uses the index when the file has one and otherwise walks the
chunk headers, skipping bodies by length; the stream reader walks chunk after
chunk. Both walk with the one pure walker, `formats.container.next_block`. Events
come in the order they were written (by sequence number), and only the chunks
holding the kinds and times asked for are read.
"""

from __future__ import annotations

import heapq
import os
import warnings
from array import array
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from ..errors import LogFormatError, TruncatedLogWarning
from ..events import Event
from ..formats import container as fmt
from ..formats.common import CutKind, Damage, DamageKind, Truncation, zero_prefix
from ..markers import Marker
from ..summary import SummaryBuilder
from .indexed_writer import CHUNK_AGE_NS, CHUNK_SIZE, IMAGE_CHUNK_SIZE, LEVEL, IndexedWriter
from .sources import FileSource, Source

# A stream reader yields buffered records out of sequence order once this much is held
# (only a file with lost chunks gets there; a writer's chunks interleave within a second).
_STREAM_HOLD = 64 << 20
_HELD_ENTRY = 64  # what holding one record costs besides its payload (counted for unwanted ones too)
_RESYNC_BLOCK = 1 << 20
#: A chunk's header and body are read at once when the chunk (to the next one) is at most this long.
_COALESCE = fmt.MAX_CHUNK_HEADER + IMAGE_CHUNK_SIZE + (1 << 20)
#: Chunks a read of a remote file asks for ahead of the one being decoded (requests in flight).
_AHEAD = 4
#: Records handed out at a time by `payload_batches` (about a chunk's worth).
_BATCH = 4096
#: Damage that stops a strict read (after the events before it): bytes where a chunk should be.
_STOPS_STRICT = frozenset({DamageKind.NOT_A_CHUNK, DamageKind.ZERO_RUN})


def cut_header(head: bytes, size: int) -> Truncation | None:
    """The truncation of data of `size` bytes starting with `head` that ends inside a container header, else None.

    `head` is the data's first `FILE_HEAD_SIZE` bytes (fewer if it is shorter).
    """
    if not head or not (fmt.MAGIC.startswith(head[: len(fmt.MAGIC)]) or fmt.is_container(head)):
        return None
    if len(head) < fmt.FILE_HEAD_SIZE:
        return Truncation(0, fmt.FILE_HEAD_SIZE, size, CutKind.HEADER)
    need = fmt.header_size_needed(head)
    return Truncation(0, need, size, CutKind.HEADER) if size < need else None


def _codes(kinds: Iterable[str] | None) -> frozenset[int] | None:
    if kinds is None:
        return None
    return frozenset(fmt.KIND_CODES.get(k, 0) for k in kinds)


def missing_events(seqs: array[int], first_seqs: list[int], offsets: list[int], end: int) -> list[Damage]:
    """Damage for the gaps in the sequence numbers `seqs` (all of a file's, read): events lost before writing.

    Gaps are grouped by the first chunk written after them (its offset is where each is reported; `end` if none).
    """
    rows = sorted(zip(first_seqs, offsets, strict=True))
    groups: dict[int, list[tuple[int, int]]] = {}  # chunk offset -> [(first missing, last missing)]
    expected = 0
    for seq in sorted(seqs):
        if seq > expected:
            after = next((off for first, off in rows if first >= seq), end)
            groups.setdefault(after, []).append((expected, seq - 1))
        expected = max(expected, seq + 1)
    damage = []
    for offset, gaps in groups.items():
        count = sum(b - a + 1 for a, b in gaps)
        where = f"sequence numbers {gaps[0][0]} to {gaps[-1][1]}" + (f", in {len(gaps)} gaps" if len(gaps) > 1 else "")
        reason = f"{count} event{'s' if count > 1 else ''} missing ({where})"
        damage.append(Damage(offset, DamageKind.MISSING_EVENTS, reason, count))
    return damage


class IndexedReader:
    """An indexed container opened for reading from a seekable source (see `read_indexed_stream` for pipes).

    `source` is a path or a `Source` (a local file, bytes, a seekable file object,
    a remote file). With a valid index, opening reads the header, trailer and index
    only. Without one (a file cut short, a recorder killed) it walks the chunk
    headers, skipping bodies by length. `lenient` skips corrupt chunks and lists
    them in `problems`; otherwise reading raises `LogFormatError` at the first one,
    after every event before it. Several threads may read the same reader at once.
    """

    def __init__(self, source: str | os.PathLike[str] | Source, *, lenient: bool = False, verify: bool = True) -> None:
        self.source: Source = FileSource(source) if isinstance(source, (str, os.PathLike)) else source
        self.path = self.source.name
        self.lenient = lenient
        #: Whether chunk bodies' checksums are checked on reading (the columns are checked always).
        self.verify = verify
        try:
            self._open()
        except BaseException:
            self.source.close()
            raise

    def _open(self) -> None:
        self.file_size = size = self.source.size
        #: Problems met so far: corrupt chunks skipped, a missing or unreadable index, missing events.
        self.problems: list[Damage] = []
        #: Where the file ends early (inside a chunk, its header, or in zero padding), if it does.
        self.truncation: Truncation | None = None
        head = self._pread(fmt.FILE_HEAD_SIZE, 0)
        try:
            # An empty file opened as a container (named .pdlz, say) was cut before its header.
            cut = cut_header(head, size) if head else Truncation(0, fmt.FILE_HEAD_SIZE, 0, CutKind.HEADER)
            if cut is not None:  # a recorder killed while writing the header: an empty log, cut short
                self.truncation = cut
                #: The metadata: the header's, with the updates the file holds applied (version 1.1).
                self.metadata: dict[str, Any] = {}
                self.header_size = size
            else:
                header_size = fmt.header_size_needed(head)
                self.metadata, self.header_size = fmt.decode_header(self._pread(header_size, 0))
        except LogFormatError as exc:
            if not (self.lenient and fmt.is_container(head)):
                raise LogFormatError(exc.reason, path=self.path, offset=exc.offset) from None
            # The metadata is lost, the chunks need not be: start at the first valid chunk.
            reason = f"header unreadable ({exc.reason}); metadata lost"
            self.problems.append(Damage(exc.offset or 0, DamageKind.HEADER, reason))
            self.metadata = {}
            first = self._resync(len(fmt.MAGIC))
            self.header_size = size if first is None else first
        self.index: fmt.Index | None = None
        self.data_end = size
        extras: list[fmt.Extras] = []
        found = None
        if size >= self.header_size + fmt.TRAILER_SIZE:
            found = fmt.decode_trailer(self._pread(fmt.TRAILER_SIZE, size - fmt.TRAILER_SIZE), size)
        if found is not None:
            index_offset, index_size = found
            try:
                self.index, index_extras = self._load_index(index_offset, index_size)
                extras = [index_extras]
                self.data_end = index_offset
            except LogFormatError as exc:
                reason = f"index unreadable ({exc.reason}); scanned"
                self.problems.append(Damage(exc.offset or index_offset, DamageKind.INDEX, reason))
        if self.index is None:
            chunks = self._scan()
            before_padding = self._index_before_padding()
            if before_padding is not None:
                self.index, index_extras = before_padding
                extras = [index_extras]
        #: Whether the file has a valid index (else its chunks were found by a scan).
        self.indexed = self.index is not None
        self._masks: list[int] | None = None
        self._damage_seen: set[int] = set()
        if self.index is None:
            self.index = fmt.Index.from_chunks(chunks, {})
            if self.truncation is None or self.truncation.kind is not CutKind.HEADER:
                reason = "no index (the file was not closed properly)"
                self.problems.append(Damage(self.data_end, DamageKind.NO_INDEX, reason))
            extras = self._scanned_extras(chunks)
        #: The markers the file holds (version 1.1), in the order they were added.
        self.markers: list[Marker] = [m for part in extras for m in part.markers]
        for part in extras:
            fmt.apply_metadata(self.metadata, part.metadata)
        #: Statistics from the index (None for a file read by scanning).
        self.stats: dict[str, Any] | None = self.index.stats if self.indexed else None
        self._gaps_checked = False

    def _load_index(self, index_offset: int, index_size: int) -> tuple[fmt.Index, fmt.Extras]:
        """The index block at `index_offset` and the extras it lists, checked (LogFormatError if they do not)."""
        block = self._pread(index_size, index_offset)
        rows = fmt.max_index_rows(self.header_size, index_offset)
        index = fmt.decode_index(block, index_offset, max_rows=rows)
        self._check_index(index, index_offset)
        try:
            SummaryBuilder.from_stats(index.stats)
        except ValueError as exc:
            raise LogFormatError(f"index {exc}", offset=index_offset) from None
        return index, fmt.Extras.from_json(index.stats, "index", index_offset)

    def _index_before_padding(self) -> tuple[fmt.Index, fmt.Extras] | None:
        """A complete index and trailer where the scan stopped, followed by zeros (a power loss's padding) or junk.

        The file is whole up to its trailer: the index is used, and what follows is a truncation (padding) or damage.
        """
        pos = self.data_end
        size = fmt.index_block_size(self._pread(fmt.INDEX_HEAD_SIZE, pos))
        if size is None:
            return None
        end = pos + size + fmt.TRAILER_SIZE
        if fmt.decode_trailer(self._pread(fmt.TRAILER_SIZE, pos + size), end) != (pos, size):
            return None
        try:
            loaded = self._load_index(pos, size)
        except LogFormatError:
            return None
        data = self.source.zero_run_end(end)
        if data >= self.file_size:
            reason = f"{self.file_size - end} zero bytes after the end of the file's data (what a power loss leaves)"
            self.problems.append(Damage(end, DamageKind.TRAILING_ZEROS, reason))
        else:
            reason = f"{self.file_size - end} bytes after the index and its trailer (from byte {end}), not read"
            self.problems.append(Damage(end, DamageKind.NOT_A_CHUNK, reason))
        self.data_end = pos
        return loaded

    def _scanned_extras(self, chunks: list[fmt.ChunkInfo]) -> list[fmt.Extras]:
        """The extras of a file without an index: those of its chunks that carry some, in file order.

        Only those chunks are read (rarely more than a few). One that does not check is
        corrupt: listed in `problems` and, like any corrupt chunk, skipped or raised when read.
        """
        found = []
        for info in chunks:
            if not info.extras:
                continue
            try:
                recs = fmt.decode_chunk_body(info, self._pread(info.stored_size, info.body_offset))
            except LogFormatError as exc:
                self._damage_seen.add(info.offset)
                self.problems.append(Damage(info.offset, DamageKind.CORRUPT_CHUNK, exc.reason))
                continue
            if recs.extras is not None:
                found.append(recs.extras)
        return found

    def _check_index(self, index: fmt.Index, index_offset: int) -> None:
        last = self.header_size - 1
        for off in index.offsets:
            if off <= last or off >= index_offset:
                raise LogFormatError("index points outside the chunk area", offset=index_offset)
            last = off

    def _pread(self, n: int, offset: int) -> bytes:
        return self.source.pread(n, offset)

    def _scan(self) -> list[fmt.ChunkInfo]:
        """Find every complete chunk by walking chunk headers; resynchronise past damage."""
        chunks: list[fmt.ChunkInfo] = []
        pos = self.header_size
        size = self.file_size
        kinds = fmt.BlockKind
        while True:
            block = fmt.next_block(self._pread(fmt.MAX_CHUNK_HEADER, pos), pos, size - pos)
            if block.kind is kinds.CHUNK:
                assert block.chunk is not None
                chunks.append(block.chunk)
                pos = block.chunk.end_offset
                continue
            if block.kind in (kinds.END, kinds.INDEX):
                break
            if block.kind is kinds.CUT:
                self.truncation = Truncation(pos, block.needed, size - pos, CutKind.CHUNK)
                break
            if block.kind is kinds.ZEROS:
                end = self.source.zero_run_end(pos)
                if end >= size:
                    self.truncation = Truncation(pos, 0, size - pos, CutKind.PADDING)
                    break
                reason = f"{end - pos} zero bytes where a chunk should start"
                self.problems.append(Damage(pos, DamageKind.ZERO_RUN, reason))
                nxt = self._resync(end)
            else:
                self.problems.append(Damage(pos, DamageKind.NOT_A_CHUNK, block.reason))
                nxt = self._resync(pos + 1)
            if nxt is None:
                break
            pos = nxt
        self.data_end = pos
        return chunks

    def _resync(self, pos: int) -> int | None:
        """The offset of the next valid chunk at or after `pos`, if any."""
        size = self.file_size
        while pos < size:
            data = self._pread(_RESYNC_BLOCK + 3, pos)
            at = fmt.find_chunk_magic(data)
            while at >= 0:
                cand = pos + at
                head = self._pread(fmt.MAX_CHUNK_HEADER, cand)
                if fmt.next_block(head, cand, size - cand).kind is fmt.BlockKind.CHUNK:
                    return cand
                at = fmt.find_chunk_magic(data, at + 1)
            pos += _RESYNC_BLOCK
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
        offset, first = self._first_read(i)
        whole = first > fmt.MAX_CHUNK_HEADER
        try:
            data = self._pread(first, offset)
            info = fmt.decode_chunk_header(data[: fmt.MAX_CHUNK_HEADER], offset)
            if info.first_seq != index.first_seqs[i] or info.records != index.records[i]:
                raise LogFormatError("chunk header disagrees with the index", offset=offset)
            if info.end_offset > self.data_end:
                raise LogFormatError("chunk runs past the end of the chunk area", offset=offset)
            if whole and info.end_offset - offset <= len(data):
                body = data[info.header_size : info.header_size + info.stored_size]
            else:
                body = self._pread(info.stored_size, info.body_offset)
            return info, fmt.decode_chunk_body(info, body, verify=self.verify)
        except LogFormatError as exc:
            raise LogFormatError(exc.reason, path=self.path, offset=exc.offset) from None

    def _first_read(self, i: int) -> tuple[int, int]:
        """(offset, bytes) of the first read of chunk `i`: its header, or for a remote file the whole chunk.

        Up to the next chunk is this chunk: one request for its header and body.
        """
        index = self.index
        assert index is not None
        offset = index.offsets[i]
        span = (index.offsets[i + 1] if i + 1 < len(index) else self.data_end) - offset
        whole = self.source.round_trips and fmt.MAX_CHUNK_HEADER < span <= _COALESCE
        return offset, span if whole else fmt.MAX_CHUNK_HEADER

    def _load(self, i: int) -> tuple[fmt.ChunkInfo, fmt.ChunkRecords] | None:
        try:
            return self.read_chunk(i)
        except LogFormatError as exc:
            if not self.lenient:
                raise
            if exc.offset not in self._damage_seen:
                self._damage_seen.add(exc.offset)  # type: ignore[arg-type]
                self.problems.append(Damage(exc.offset or 0, DamageKind.CORRUPT_CHUNK, exc.reason))
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
        A whole read (every kind, no window) also finds events missing from the sequence:
        they are added to `problems`.
        """
        chosen = frozenset(kinds) if kinds is not None else None
        ids = self.select(chosen, lo, hi)
        stop = self._first_damage()
        if stop is not None and not self.lenient:
            assert self.index is not None
            ids = [i for i in ids if self.index.offsets[i] < stop.offset]
        whole = chosen is None and lo is None and hi is None and not self._gaps_checked
        seqs: array[int] | None = array("Q") if whole else None
        loaded = self._loaded(ids, on_chunk, seqs)
        yield from _merge(ids, self.index.first_seqs, loaded, _codes(chosen), lo, hi, self.path)  # type: ignore[union-attr]
        if stop is not None and not self.lenient:
            raise LogFormatError(stop.reason, path=self.path, offset=stop.offset)
        if seqs is not None and not self._gaps_checked:
            self._gaps_checked = True
            assert self.index is not None
            gaps = missing_events(seqs, self.index.first_seqs, self.index.offsets, self.data_end)
            # Events of the corrupt chunks skipped are reported with them: only gaps they do not explain are new.
            skipped = sum(self.index.records[i] for i in ids if self.index.offsets[i] in self._damage_seen)
            if sum(d.events for d in gaps) != skipped:
                self.problems.extend(gaps)
        if self.truncation is not None and warn:
            warnings.warn(f"{self.path}: {self.truncation}", TruncatedLogWarning, stacklevel=2)

    def payload_batches(
        self, kinds: Iterable[str] | None = None, lo: int | None = None, hi: int | None = None
    ) -> Iterator[tuple[list[int], list[bytes], list[int]]]:
        """The events `events` yields, in the same order, a chunk's worth at a time and without `Event`
        objects: (receive times, payloads, chunk offsets). For readers that take events by the thousand."""
        chosen = frozenset(kinds) if kinds is not None else None
        ids = self.select(chosen, lo, hi)
        stop = self._first_damage()
        if stop is not None and not self.lenient:
            assert self.index is not None
            ids = [i for i in ids if self.index.offsets[i] < stop.offset]
        yield from _merge_batches(ids, self.index.first_seqs, self._loaded(ids), _codes(chosen), lo, hi)  # type: ignore[union-attr]
        if stop is not None and not self.lenient:
            raise LogFormatError(stop.reason, path=self.path, offset=stop.offset)
        if self.truncation is not None:
            warnings.warn(f"{self.path}: {self.truncation}", TruncatedLogWarning, stacklevel=2)

    def _loaded(
        self,
        ids: list[int],
        on_chunk: Callable[[fmt.ChunkInfo, fmt.ChunkRecords], None] | None = None,
        seqs: array[int] | None = None,
    ) -> Iterator[tuple[fmt.ChunkInfo, fmt.ChunkRecords] | None]:
        # A read-ahead thread was tried for local files: on two shared cores the hand-offs cost more than
        # they saved. A remote source is told the chunks to come, so a few requests are in flight at once.
        ahead = _AHEAD if self.source.round_trips else 0
        if ahead:
            self.source.prefetch([self._first_read(j) for j in ids[:ahead]])
        for k, i in enumerate(ids):
            if ahead and k + ahead < len(ids):
                self.source.prefetch([self._first_read(ids[k + ahead])])
            chunk = self._load(i)
            if chunk is not None:
                if on_chunk is not None:
                    on_chunk(*chunk)
                if seqs is not None:
                    seqs.extend(chunk[1].seqs)
            yield chunk

    def _first_damage(self) -> Damage | None:
        damage = [d for d in self.problems if d.kind in _STOPS_STRICT]
        return min(damage, key=lambda d: d.offset) if damage else None

    def reopen(self) -> IndexedReader:
        """An independent reader of the same source, opened the same way."""
        return IndexedReader(self.source.reopen(), lenient=self.lenient, verify=self.verify)

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> IndexedReader:
        return self

    def __exit__(self, *exc: object) -> None:
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


def _runs(
    ids: list[int],
    first_seqs: list[int],
    loaded: Iterator[tuple[fmt.ChunkInfo, fmt.ChunkRecords] | None],
    codes: frozenset[int] | None,
    lo: int | None,
    hi: int | None,
) -> Iterator[tuple[fmt.ChunkInfo, fmt.ChunkRecords, list[int]]]:
    """The wanted records of chunks `ids` (sorted by first sequence number) in sequence order, as runs.

    Each run is (chunk, its records, positions of consecutive records of it): a chunk whose
    records all come before the next chunk's is one run; overlapping chunks (camera frames
    and sensors written side by side) give one run per stretch between the other's records.
    """
    pending = list(reversed(ids))
    heap: list[tuple[int, int, int, list[int], fmt.ChunkInfo, fmt.ChunkRecords]] = []
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
        _, i, k, picks, info, recs = heapq.heappop(heap)
        # This chunk's records run until another chunk (held, or still to load) has an earlier one.
        limit = min(heap[0][0] if heap else 1 << 64, first_seqs[pending[-1]] if pending else 1 << 64)
        seqs = recs.seqs
        stop = k + 1
        while stop < len(picks) and seqs[picks[stop]] < limit:
            stop += 1
        yield info, recs, picks[k:stop] if k or stop < len(picks) else picks
        if stop < len(picks):
            heapq.heappush(heap, (seqs[picks[stop]], i, stop, picks, info, recs))


def _merge(
    ids: list[int],
    first_seqs: list[int],
    loaded: Iterator[tuple[fmt.ChunkInfo, fmt.ChunkRecords] | None],
    codes: frozenset[int] | None,
    lo: int | None,
    hi: int | None,
    path: str | None,
) -> Iterator[Event]:
    """Events of chunks `ids` (sorted by first sequence number) in sequence order."""
    names = fmt.KIND_NAMES
    for info, recs, run in _runs(ids, first_seqs, loaded, codes, lo, hi):
        body, starts, ends, times, kinds = recs.body, recs.starts, recs.ends, recs.times, recs.kinds
        offset = info.offset
        for j in run:
            yield Event(body[starts[j] : ends[j]], offset, times[j], kind=names[kinds[j]], path=path)


def _merge_batches(
    ids: list[int],
    first_seqs: list[int],
    loaded: Iterator[tuple[fmt.ChunkInfo, fmt.ChunkRecords] | None],
    codes: frozenset[int] | None,
    lo: int | None,
    hi: int | None,
) -> Iterator[tuple[list[int], list[bytes], list[int]]]:
    """`_merge`, in batches of (receive times, payloads, chunk offsets): a few runs' worth at a time."""
    times: list[int] = []
    payloads: list[bytes] = []
    offsets: list[int] = []
    for info, recs, run in _runs(ids, first_seqs, loaded, codes, lo, hi):
        body, starts, ends, rtimes = recs.body, recs.starts, recs.ends, recs.times
        times.extend([rtimes[j] for j in run])
        payloads.extend([body[starts[j] : ends[j]] for j in run])
        offsets.extend([info.offset] * len(run))
        if len(times) >= _BATCH:
            yield times, payloads, offsets
            times, payloads, offsets = [], [], []
    if times:
        yield times, payloads, offsets


class _Peeker:
    """Reads a stream ahead just enough for the walker: `peek(n)` without consuming, `take(n)` consuming."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self._buf = b""
        self.eof = False

    def peek(self, n: int) -> bytes:
        while len(self._buf) < n and not self.eof:
            block = self._f.read(n - len(self._buf))
            if not block:
                self.eof = True
                break
            self._buf += block
        return self._buf[:n]

    def take(self, n: int) -> bytes:
        data = self.peek(n)
        self._buf = self._buf[len(data) :]
        return data

    def skip_zeros(self) -> int:
        """Consume a run of zero bytes; return its length (stops at the first non-zero byte)."""
        run = 0
        while True:
            data = self.peek(1 << 16)
            if not data:
                return run
            zeros = zero_prefix(data)
            self.take(zeros)
            run += zeros
            if zeros < len(data):
                return run


def read_indexed_stream(
    f: BinaryIO,
    *,
    kinds: Iterable[str] | None = None,
    lo: int | None = None,
    hi: int | None = None,
    lenient: bool = False,
    path: str | None = None,
    problems: list[Damage] | None = None,
    truncation: list[Truncation] | None = None,
    extras: list[fmt.Extras] | None = None,
) -> Iterator[Event]:
    """Events of a container read front to back from a stream (a pipe, a socket): no seeking, no index.

    Events come in the order written. A stream cut short ends cleanly with a
    `TruncatedLogWarning` (and the cut appended to `truncation`, if given); a
    corrupt chunk raises `LogFormatError`, or with `lenient` is skipped and added
    to `problems`, as are events missing from the sequence. The extras of the
    chunks read (markers, metadata updates) are appended to `extras`, if given.
    """
    codes = _codes(kinds)
    name = path or "stream"
    stream = _Peeker(f)
    problems = problems if problems is not None else []
    head = stream.peek(fmt.FILE_HEAD_SIZE)
    try:
        cut = cut_header(head, len(head)) if len(head) < fmt.FILE_HEAD_SIZE else None
        if cut is None:
            need = fmt.header_size_needed(head)
            header = stream.peek(need)
            cut = cut_header(head, len(header))
            if cut is None:
                fmt.decode_header(stream.take(need))
    except LogFormatError as exc:
        raise LogFormatError(exc.reason, path=path, offset=exc.offset) from None
    if cut is not None:
        _report_cut(cut, name, truncation)
        return
    pos = need
    heap: list[tuple[int, int, Event | None]] = []
    order = held = next_seq = 0
    cut = None
    kinds_ = fmt.BlockKind
    while True:
        block = fmt.next_block(stream.peek(fmt.MAX_CHUNK_HEADER), pos, None)
        if block.kind in (kinds_.END, kinds_.INDEX):
            break
        if block.kind is kinds_.CUT:
            cut = Truncation(pos, block.needed, len(stream.peek(fmt.MAX_CHUNK_HEADER)), CutKind.CHUNK)
            break
        if block.kind is kinds_.ZEROS:
            run = stream.skip_zeros()
            if stream.eof and not stream.peek(1):
                cut = Truncation(pos, 0, run, CutKind.PADDING)
                break
            reason = f"{run} zero bytes where a chunk should start; rest of the stream not read"
            damage = Damage(pos, DamageKind.ZERO_RUN, reason)
        elif block.kind is kinds_.DAMAGE:
            # Without a sound header there is no length to skip by: a stream cannot go on.
            damage = Damage(pos, DamageKind.NOT_A_CHUNK, f"{block.reason}; rest of the stream not read")
        else:
            info = block.chunk
            assert info is not None
            stream.take(info.header_size)
            body = stream.take(info.stored_size)
            if len(body) < info.stored_size:
                cut = Truncation(pos, info.header_size + info.stored_size, info.header_size + len(body), CutKind.CHUNK)
                break
            pos = info.end_offset
            try:
                recs = fmt.decode_chunk_body(info, body)
            except LogFormatError as exc:
                if not lenient:
                    raise LogFormatError(exc.reason, path=path, offset=exc.offset) from None
                problems.append(Damage(info.offset, DamageKind.CORRUPT_CHUNK, exc.reason))
                continue
            if recs.extras is not None and extras is not None:
                extras.append(recs.extras)
            for j, seq in enumerate(recs.seqs):
                t = recs.times[j]
                e = None  # not wanted, but its sequence number still orders the others
                if (codes is None or recs.kinds[j] in codes) and (lo is None or t >= lo) and (hi is None or t < hi):
                    payload = recs.body[recs.starts[j] : recs.ends[j]]
                    e = Event(payload, info.offset, t, kind=fmt.KIND_NAMES[recs.kinds[j]], path=path)
                    held += len(payload)
                held += _HELD_ENTRY
                heapq.heappush(heap, (seq, order, e))
                order += 1
            while heap and (heap[0][0] <= next_seq or held > _STREAM_HOLD):
                seq, _, e = heapq.heappop(heap)
                next_seq = _note_gap(seq, next_seq, pos, problems)
                held -= _HELD_ENTRY
                if e is not None:
                    held -= len(e.payload)
                    yield e
            continue
        if not lenient:
            raise LogFormatError(damage.reason, path=path, offset=damage.offset)
        problems.append(damage)
        break
    while heap:
        seq, _, e = heapq.heappop(heap)
        next_seq = _note_gap(seq, next_seq, pos, problems)
        if e is not None:
            yield e
    if cut is not None:
        _report_cut(cut, name, truncation)


def _note_gap(seq: int, expected: int, pos: int, problems: list[Damage]) -> int:
    """The next expected sequence number after `seq`; a gap before it is added to `problems`."""
    if seq > expected:
        count = seq - expected
        reason = f"{count} event{'s' if count > 1 else ''} missing (sequence numbers {expected} to {seq - 1})"
        problems.append(Damage(pos, DamageKind.MISSING_EVENTS, reason, count))
    return max(expected, seq + 1)


def _report_cut(cut: Truncation, name: str, truncation: list[Truncation] | None) -> None:
    if truncation is not None:
        truncation.append(cut)
    warnings.warn(f"{name}: {cut}", TruncatedLogWarning, stacklevel=3)


__all__ = [
    "CHUNK_AGE_NS",
    "CHUNK_SIZE",
    "IMAGE_CHUNK_SIZE",
    "LEVEL",
    "IndexedReader",
    "IndexedWriter",
    "cut_header",
    "missing_events",
    "read_indexed_stream",
]
