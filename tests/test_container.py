"""The indexed container: written, cut, corrupted, streamed and fuzzed, it reads back what it should."""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pdlogkit import LogFormatError, open_log
from pdlogkit.errors import TruncatedLogWarning
from pdlogkit.files.classic import ClassicReader, ClassicWriter
from pdlogkit.files.indexed import IndexedReader, IndexedWriter, read_indexed_stream
from pdlogkit.formats import container as fmt
from pdlogkit.log import IndexedLog
from pdlogkit.logtools import recover_log, verify_log
from pdlogkit.synth import SynthStream


def small_stream(seconds: float = 3.0) -> list[tuple[int, bytes]]:
    return list(SynthStream(seconds, seed=5, frame_size=(64, 64), fps=2.0))


def write_container(path: Path, events: list[tuple[int, bytes]], **options: int) -> Path:
    with IndexedWriter(path, metadata={"source": "test"}, **options) as w:
        for t, payload in events:
            w.write(payload, t)
    return path


def read_all(path: Path, **options: bool) -> list[tuple[int | None, bytes]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncatedLogWarning)
        with IndexedReader(path, **options) as reader:
            return [(e.received_ns, e.payload) for e in reader.events()]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[int, bytes]]]:
    """A small container with many chunks (a quarter-second age), and what was written to it."""
    events = small_stream()
    path = write_container(tmp_path_factory.mktemp("c") / "small.pdlz", events, chunk_age_ns=250_000_000)
    return path, events


def test_a_container_reads_back_every_event_in_the_order_written(small):
    path, events = small
    assert read_all(path) == events
    with IndexedReader(path) as reader:
        assert reader.indexed
        assert reader.metadata["source"] == "test"
        assert reader.stats["events"] == len(events)


def test_camera_frames_sit_in_uncompressed_chunks_of_their_own(small):
    path, _ = small
    with IndexedReader(path) as reader:
        for i in range(reader.chunk_count):
            info, _ = reader.read_chunk(i)
            has_image = fmt.IMAGE_CODE in info.counts
            assert not has_image or (set(info.counts) == {fmt.IMAGE_CODE} and not info.compressed)
            assert has_image or info.compressed


def test_chunks_close_at_the_age_limit(tmp_path):
    events = small_stream(4.0)
    path = write_container(tmp_path / "a.pdlz", events, chunk_age_ns=1_000_000_000)
    with IndexedReader(path) as reader:
        spans = [e - s for s, e in zip(reader.index.starts, reader.index.ends, strict=True)]
    assert max(spans) < 1_000_000_000
    assert reader.chunk_count >= 8  # 4 s, two lanes


def test_reading_sensors_never_reads_an_image_chunk(small, monkeypatch):
    path, events = small
    with IndexedReader(path) as reader:
        infos = [reader.read_chunk(i)[0] for i in range(reader.chunk_count)]
        image_bodies = [(c.body_offset, c.end_offset) for c in infos if fmt.IMAGE_CODE in c.counts]
        assert image_bodies
        reads: list[tuple[int, int]] = []
        real = reader._pread

        def spy(n: int, offset: int) -> bytes:
            reads.append((offset, offset + n))
            return real(n, offset)

        monkeypatch.setattr(reader, "_pread", spy)
        got = [e.payload for e in reader.events(kinds=["active_capacitance", "scan_capacitance"])]
    assert got == [p for _, p in events if p[0] in (0x32, 0x3A)]
    assert reads
    assert not [r for r in reads for b in image_bodies if r[0] < b[1] and b[0] < r[1]]


def test_a_file_cut_at_any_byte_opens_and_reads_every_complete_chunk(tmp_path):
    events = small_stream(1.2)
    path = write_container(tmp_path / "whole.pdlz", events, chunk_age_ns=200_000_000)
    data = path.read_bytes()
    with IndexedReader(path) as full:
        chunks = [full.read_chunk(i) for i in range(full.chunk_count)]
        header_size = full.header_size
    spans = [(info.offset, info.end_offset) for info, _ in chunks]  # in file order
    expected = [sorted(s for _, recs in chunks[:n] for s in recs.seqs) for n in range(len(chunks) + 1)]
    expected = [[events[s] for s in seqs] for seqs in expected]
    cut_file = tmp_path / "cut.pdlz"
    for cut in range(1, len(data) + 1):
        cut_file.write_bytes(data[:cut])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncatedLogWarning)
            with open_log(cut_file) as log:
                assert isinstance(log, IndexedLog), f"cut at {cut}"
                got = [(e.received_ns, e.payload) for e in log.events()]
                complete = sum(1 for _, end in spans if end <= cut)
                assert got == (expected[complete] if cut >= header_size else []), f"cut at {cut}"
                # 1-3 bytes of "PDZ" after the last chunk could start a chunk as well as the index: a cut too.
                inside_a_chunk = any(start < cut < end for start, end in spans)
                index_offset = spans[-1][1]
                if cut < header_size or inside_a_chunk or index_offset < cut < index_offset + 4:
                    assert log.truncation is not None, f"cut at {cut}"
                else:  # at a chunk boundary, or in the index: every chunk is whole
                    assert log.truncation is None, f"cut at {cut}"
                assert log.has_index == (cut == len(data))


def test_a_window_of_a_cut_file_reads_only_the_chunks_it_needs(small, tmp_path, monkeypatch):
    path, events = small
    cut = tmp_path / "cut.pdlz"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size * 3 // 4])
    with open_log(path) as whole:
        want = [e.payload for e in whole.events(kinds=["scan_capacitance"], start=0.5, end=1.0)]
    with open_log(cut) as log, warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncatedLogWarning)
        read_chunks = []
        real = log.reader.read_chunk
        monkeypatch.setattr(log.reader, "read_chunk", lambda i: read_chunks.append(i) or real(i))
        assert not log.has_index and log.start_ns == min(t for t, _ in events)
        assert [e.payload for e in log.events(kinds=["scan_capacitance"], start=0.5, end=1.0)] == want and want
        assert set(read_chunks) == set(log.reader.select(["scan_capacitance"], *log.window_ns(0.5, 1.0)))
        assert len(read_chunks) < log.reader.chunk_count / 2


def test_a_recorder_killed_before_its_first_flush_leaves_an_empty_readable_log(tmp_path):
    path = tmp_path / "early.pdlz"
    writer = IndexedWriter(path, metadata={"source": "test"})
    writer.write(small_stream(0.2)[0][1], 1)  # buffered, never flushed: the process dies here
    with open_log(path) as log:
        assert log.metadata["source"] == "test"
        assert list(log.events()) == [] and log.truncation is None
    writer.close()


def test_a_cut_file_reports_where_it_ends(small, tmp_path):
    path, _ = small
    data = path.read_bytes()
    cut = tmp_path / "cut.pdlz"
    cut.write_bytes(data[: len(data) // 2])
    with IndexedReader(cut) as reader:
        assert not reader.indexed
        assert reader.truncation is not None and reader.truncation.offset < len(data) // 2
        with pytest.warns(TruncatedLogWarning):
            list(reader.events())


def test_a_flushed_writer_loses_nothing_when_the_process_dies(tmp_path):
    path = tmp_path / "killed.pdlz"
    events = small_stream(2.0)
    script = (
        "import os, sys, pickle\n"
        "from pdlogkit.files.indexed import IndexedWriter\n"
        "events = pickle.loads(sys.stdin.buffer.read())\n"
        f"w = IndexedWriter({str(path)!r})\n"
        "for t, p in events: w.write(p, t)\n"
        "w.flush()\n"
        "w.write(b'\\x3a\\x00', events[-1][0])\n"  # written after the flush: may be lost
        "os._exit(9)\n"
    )
    import pickle

    proc = subprocess.run([sys.executable, "-c", script], input=pickle.dumps(events), capture_output=True)
    assert proc.returncode == 9, proc.stderr.decode()
    assert read_all(path) == events


class DiskFillsOnce:
    """A file whose `fail_at`-th write stores half its bytes and raises ENOSPC; later writes succeed (space freed)."""

    def __init__(self, f, fail_at: int) -> None:
        self.f = f
        self.writes = 0
        self.fail_at = fail_at

    def write(self, data: bytes) -> int:
        self.writes += 1
        if self.writes == self.fail_at:
            self.f.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.f.write(data)

    def flush(self) -> None:
        self.f.flush()


def test_a_disk_full_mid_chunk_leaves_a_file_that_reads_without_duplicates(tmp_path):
    """Writes: 1 the header, 2 the first sensor chunk, 3 its image chunk (fails half-way)."""
    events = small_stream(0.8)
    sensors = [(t, p) for t, p in events if fmt.kind_code(p) != fmt.IMAGE_CODE]
    path = tmp_path / "full.pdlz"
    with open(path, "wb") as raw:
        disk = DiskFillsOnce(raw, fail_at=3)
        writer = IndexedWriter(disk)
        for t, p in events:
            writer.write(p, t)
        with pytest.raises(OSError, match="No space"):
            writer.flush()
        with pytest.raises(OSError, match="earlier write"):
            writer.write(events[0][1], events[0][0])
        with pytest.raises(OSError, match="earlier write"):
            writer.flush()
        writer.close()  # writes nothing more: no second copy of the sensor chunk, no index with wrong offsets
        assert disk.writes == 3
    with open_log(path) as log:
        assert not log.has_index and log.truncation is not None
        with pytest.warns(TruncatedLogWarning):
            assert [(e.received_ns, e.payload) for e in log.events()] == sensors


def test_a_corrupt_chunk_raises_naming_its_offset_or_is_skipped_when_lenient(small, tmp_path):
    path, events = small
    with IndexedReader(path) as reader:
        info, recs = reader.read_chunk(3)
    data = bytearray(path.read_bytes())
    data[info.body_offset + 5] ^= 0xFF
    bad = tmp_path / "bad.pdlz"
    bad.write_bytes(bytes(data))
    with pytest.raises(LogFormatError) as caught, IndexedReader(bad) as reader:
        list(reader.events())
    assert caught.value.offset == info.offset
    assert str(info.offset) in str(caught.value)
    with IndexedReader(bad, lenient=True) as reader:
        got = [(e.received_ns, e.payload) for e in reader.events()]
        assert [d.offset for d in reader.problems] == [info.offset]
    lost = set(recs.seqs)
    assert got == [ev for s, ev in enumerate(events) if s not in lost]


def test_a_corrupt_chunk_header_in_a_file_without_index_is_skipped_by_resynchronising(small, tmp_path):
    path, events = small
    with IndexedReader(path) as reader:
        info, recs = reader.read_chunk(2)
        index_offset = reader.data_end
    data = bytearray(path.read_bytes()[:index_offset])  # no index: the reader must scan
    data[info.offset + 9] ^= 0x55
    bad = tmp_path / "bad.pdlz"
    bad.write_bytes(bytes(data))
    with IndexedReader(bad, lenient=True) as reader:
        got = [p for _, p in ((e.received_ns, e.payload) for e in reader.events())]
        assert reader.problems[0].offset == info.offset
    assert got == [p for s, (_, p) in enumerate(events) if s not in set(recs.seqs)]
    with pytest.raises(LogFormatError, match=f"byte {info.offset}"), IndexedReader(bad) as reader:
        list(reader.events())


def test_several_threads_can_read_one_container_at_once(small):
    from concurrent.futures import ThreadPoolExecutor

    path, events = small
    with IndexedReader(path) as reader, ThreadPoolExecutor(4) as pool:
        jobs = [pool.submit(lambda: [(e.received_ns, e.payload) for e in reader.events()]) for _ in range(8)]
        assert all(job.result() == events for job in jobs)


def test_a_container_reads_from_a_pipe(small):
    path, events = small
    reader_fd, writer_fd = os.pipe()
    with open(path, "rb") as src, os.fdopen(writer_fd, "wb") as w, os.fdopen(reader_fd, "rb") as r:
        import threading

        feeder = threading.Thread(target=lambda: (w.write(src.read()), w.close()))
        feeder.start()
        got = [(e.received_ns, e.payload) for e in read_indexed_stream(r)]
        feeder.join()
    assert got == events


def test_a_stream_cut_short_ends_cleanly_with_a_warning(small):
    import io

    path, events = small
    data = path.read_bytes()
    with pytest.warns(TruncatedLogWarning):
        got = [(e.received_ns, e.payload) for e in read_indexed_stream(io.BytesIO(data[: len(data) // 2]))]
    assert got and set(got) <= set(events)


def test_a_stream_can_be_filtered_by_kind_and_time(small):
    import io

    path, events = small
    lo, hi = events[0][0] + 500_000_000, events[0][0] + 2_000_000_000
    got = [e.payload for e in read_indexed_stream(io.BytesIO(path.read_bytes()), kinds=["image"], lo=lo, hi=hi)]
    assert got == [p for t, p in events if p[0] == 0x1A and lo <= t < hi]


def test_chunk_and_header_codecs_round_trip():
    records = [(7, 1_000, b"\x3a\x02\x08\x01"), (9, 900, b""), (10, 2_000, b"\x1a\x01x")]
    data = fmt.encode_chunk(records, 7)
    info = fmt.decode_chunk_header(data, 100)
    recs = fmt.decode_chunk_body(info, data[info.header_size :])
    assert recs.seqs == [7, 9, 10] and recs.times == [1_000, 900, 2_000]
    assert (info.start_ns, info.end_ns, info.counts) == (900, 2_000, {0: 1, 3: 1, 7: 1})
    assert [bytes(recs.body[a:b]) for a, b in zip(recs.starts, recs.ends, strict=True)] == [r[2] for r in records]
    meta, _ = fmt.decode_header(fmt.encode_header({"source": "ws://x"}))
    assert meta == {"source": "ws://x"}


def test_a_newer_major_version_is_refused_clearly(tmp_path):
    header = bytearray(fmt.encode_header({}))
    header[8] = 2
    path = tmp_path / "v2.pdlz"
    path.write_bytes(bytes(header))
    with pytest.raises(LogFormatError, match="version 2"):
        open_log(path)


# ---------------------------------------------------------------- fuzzing


class Seeds(tuple):
    """(container bytes, classic bytes), with a short repr for hypothesis reports."""

    def __repr__(self) -> str:
        return f"<seed files of {len(self[0])} and {len(self[1])} bytes>"


@pytest.fixture(scope="module")
def fuzz_seed(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """A tiny container and the same events as a classic log, as bytes."""
    events = small_stream(1.0)
    folder = tmp_path_factory.mktemp("fuzz")
    container = write_container(folder / "f.pdlz", events, chunk_age_ns=200_000_000)
    classic = folder / "f.bin"
    with ClassicWriter(classic) as w:
        for _, p in events:
            w.write(p)
    return Seeds((container.read_bytes(), classic.read_bytes()))


mutations = st.lists(
    st.tuples(st.integers(min_value=0, max_value=1 << 20), st.integers(min_value=0, max_value=255)),
    min_size=1,
    max_size=6,
)


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    buf = bytearray(data)
    for pos, value in edits:
        buf[pos % len(buf)] = value
    return bytes(buf[:cut] if cut is not None else buf)


def read_every_way(path: Path) -> None:
    """Open, summarise, read, window, stream, verify and recover `path`: only `LogFormatError` may escape."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncatedLogWarning)
        for lenient in (False, True):
            try:
                with open_log(path, lenient=lenient) as log:
                    log.summary()
                    for _ in log.events():
                        pass
                    for _ in log.events(kinds=["image"], start=0.2, end=0.7):
                        pass
            except LogFormatError:
                pass
        try:
            with open(path, "rb") as f:
                if f.read(8) == fmt.MAGIC:
                    f.seek(0)
                    for _ in read_indexed_stream(f, lenient=True):
                        pass
                else:
                    for _ in ClassicReader(path):
                        pass
        except LogFormatError:
            pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncatedLogWarning)
        for tool in (
            lambda: verify_log(path),
            lambda: recover_log(path, path.with_name("recovered.pdlz"), overwrite=True),
        ):
            with contextlib.suppress(LogFormatError):
                tool()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=mutations, cut=st.one_of(st.none(), st.integers(min_value=0, max_value=1 << 16)))
def test_mutated_containers_raise_only_log_format_errors(fuzz_seed, tmp_path, edits, cut):
    path = tmp_path / "m.pdlz"
    path.write_bytes(mutate(fuzz_seed[0], edits, cut))
    read_every_way(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=mutations, cut=st.one_of(st.none(), st.integers(min_value=0, max_value=1 << 16)))
@example(edits=[(2052, 34)], cut=None)  # a timestamp beyond 64-bit nanoseconds (it once overflowed recover)
def test_mutated_classic_logs_raise_only_log_format_errors(fuzz_seed, tmp_path, edits, cut):
    path = tmp_path / "m.bin"
    path.write_bytes(mutate(fuzz_seed[1], edits, cut))
    read_every_way(path)


def blocks_of(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, header size, end) of every chunk of a whole container, then of its index block."""
    _, pos = fmt.decode_header(data)
    blocks = []
    while data[pos : pos + 4] == fmt.CHUNK_MAGIC:
        info = fmt.decode_chunk_header(data[pos:], pos)
        blocks.append((pos, info.header_size, info.end_offset))
        pos = info.end_offset
    blocks.append((pos, fmt.INDEX_HEAD_SIZE, len(data) - fmt.TRAILER_SIZE))
    return blocks


def reseal(block: bytearray, header_size: int, raw_edits: list[tuple[int, int]] | None) -> bytearray:
    """Fix a chunk's or index's sizes and checksums after an edit; with `raw_edits`, edit its raw body."""
    is_index = block[:4] == fmt.INDEX_MAGIC
    body = bytes(block[header_size:])
    if raw_edits and block[4] & fmt.FLAG_ZSTD:
        raw = bytearray(zstandard.ZstdDecompressor().decompress(body))
        for pos, value in raw_edits:
            raw[pos % len(raw)] = value
        body = zstandard.ZstdCompressor(level=1).compress(bytes(raw))
        block = block[:header_size] + body
        block[8 if is_index else 12 : 12 if is_index else 16] = len(body).to_bytes(4, "little")
        block[12 if is_index else 16 : 16 if is_index else 20] = len(raw).to_bytes(4, "little")
    crc = zlib.crc32(body).to_bytes(4, "little")
    if is_index:
        block[16:20] = crc
    elif block[:4] == fmt.CHUNK_MAGIC and header_size <= len(block):
        block[44:48] = crc
        block[header_size - 4 : header_size] = zlib.crc32(bytes(block[: header_size - 4])).to_bytes(4, "little")
    return block


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=mutations, which=st.integers(min_value=0, max_value=1000), in_raw=st.booleans())
def test_mutated_chunks_and_index_with_fixed_checksums_raise_only_log_format_errors(
    fuzz_seed, tmp_path, edits, which, in_raw
):
    """Corruption a checksum would not catch (a buggy writer) still ends in a clean error, in the zstd frame
    as stored, in what it decompresses to, or in the index."""
    data = fuzz_seed[0]
    blocks = blocks_of(data)
    start, header_size, stop = blocks[which % len(blocks)]
    block = bytearray(data[start:stop])
    if not in_raw:
        for pos, value in edits:
            block[pos % len(block)] = value
        header_size = fmt.CHUNK_FIXED_SIZE + 5 * block[5] + 4 if block[:4] == fmt.CHUNK_MAGIC else header_size
    block = reseal(block, header_size, edits if in_raw else None)
    trailer = data[stop:]
    if len(block) != stop - start and stop != len(data) - fmt.TRAILER_SIZE:
        trailer = data[stop : -fmt.TRAILER_SIZE]  # a chunk changed size: the index no longer matches (it says so)
        index_offset, index_size = blocks[-1][0], blocks[-1][2] - blocks[-1][0]
        shift = len(block) - (stop - start)
        trailer += fmt.encode_trailer(index_offset + shift, index_size)
    elif stop == len(data) - fmt.TRAILER_SIZE:
        trailer = fmt.encode_trailer(start, len(block))
    path = tmp_path / "m.pdlz"
    path.write_bytes(data[:start] + bytes(block) + trailer)
    read_every_way(path)


# ---------------------------------------------------------------- crafted chunks (valid checksums, hostile sizes)


def crafted_chunk(body: bytes, *, records: int, raw_size: int, flags: int = fmt.FLAG_ZSTD) -> bytes:
    """A chunk header with correct checksums around `body`, declaring what the arguments say."""
    import struct
    import zlib

    entries = [(6, records)] if records else []
    head = struct.pack(
        "<4sBBHIIIQqqI",
        fmt.CHUNK_MAGIC,
        flags,
        len(entries),
        0,
        records,
        len(body),
        raw_size,
        0,
        0,
        0,
        zlib.crc32(body),
    ) + b"".join(struct.pack("<BI", c, n) for c, n in entries)
    return head + struct.pack("<I", zlib.crc32(head)) + body


def zstd_frame_declaring(content: bytes, declared: int) -> bytes:
    """One zstd frame holding `content` as a raw block, whose header declares `declared` bytes of content."""
    import struct

    assert len(content) < 1 << 17
    header = b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + struct.pack("<Q", declared)  # single segment, 8-byte size
    return header + ((len(content) << 3) | 1).to_bytes(3, "little") + content


def container_with_chunk(path: Path, chunk: bytes) -> Path:
    path.write_bytes(fmt.encode_header({}) + chunk)
    return path


def test_a_zstd_frame_declaring_a_huge_size_is_refused_without_allocating_it(tmp_path):
    raw = bytes(8 + 4) + b"\x06" + bytes(4)  # one empty record: time 0, seq delta 0, kind 6, length 0
    frame = zstd_frame_declaring(raw, 64 << 30)
    chunk = crafted_chunk(frame, records=1, raw_size=len(raw))
    info = fmt.decode_chunk_header(chunk, 0)
    with pytest.raises(LogFormatError, match="declares 68719476736 bytes") as exc:
        fmt.decode_chunk_body(info, chunk[info.header_size :])
    assert exc.value.offset == info.body_offset
    # The same frame declaring the right size decodes: the check refuses only the lie.
    honest = crafted_chunk(zstd_frame_declaring(raw, len(raw)), records=1, raw_size=len(raw))
    info = fmt.decode_chunk_header(honest, 0)
    assert fmt.decode_chunk_body(info, honest[info.header_size :]).kinds == b"\x06"
    path = container_with_chunk(tmp_path / "huge.pdlz", chunk)
    with open_log(path) as log, pytest.raises(LogFormatError, match="declares"):
        list(log.events())


def test_an_index_whose_zstd_frame_declares_a_huge_size_is_set_aside_and_the_file_scanned(tmp_path):
    import struct
    import zlib

    path = write_container(tmp_path / "ok.pdlz", small_stream(0.5))
    data = path.read_bytes()
    index_offset, index_size = fmt.decode_trailer(data[-fmt.TRAILER_SIZE :], len(data))
    real = fmt.decode_index(data[index_offset : index_offset + index_size], index_offset)
    raw = fmt.encode_index(real)[fmt.INDEX_HEAD_SIZE :]  # the raw body
    frame = zstd_frame_declaring(raw, 64 << 30)
    block = struct.pack("<4sB3sIII", fmt.INDEX_MAGIC, fmt.FLAG_ZSTD, b"\0\0\0", len(frame), len(raw), zlib.crc32(frame))
    block += frame
    bad = tmp_path / "bad.pdlz"
    bad.write_bytes(data[:index_offset] + block + fmt.encode_trailer(index_offset, len(block)))
    with pytest.raises(LogFormatError, match="declares"):
        fmt.decode_index(block, index_offset)
    with open_log(bad) as log:
        assert not log.has_index and any("index unreadable" in str(p) for p in log.problems)
        assert log.summary().events == len(small_stream(0.5))


def test_a_chunk_declaring_no_records_is_refused(tmp_path):
    chunk = crafted_chunk(b"", records=0, raw_size=0)
    with pytest.raises(LogFormatError, match="no records"):
        fmt.decode_chunk_header(chunk, 0)
    with pytest.raises(LogFormatError, match="inconsistent"):  # more than zstd can expand to
        fmt.decode_chunk_header(crafted_chunk(b"x" * 4, records=1, raw_size=1 << 20), 0)


def test_an_index_listing_more_chunks_than_fit_before_it_is_set_aside(tmp_path):
    path = write_container(tmp_path / "ok.pdlz", small_stream(0.5))
    data = path.read_bytes()
    index_offset, _ = fmt.decode_trailer(data[-fmt.TRAILER_SIZE :], len(data))
    _, header_size = fmt.decode_header(data)
    fit = fmt.max_index_rows(header_size, index_offset)
    rows = fit + 1
    bloated = fmt.Index(
        [header_size + k for k in range(rows)],
        list(range(rows)),
        [1] * rows,
        [0] * rows,
        [0] * rows,
        bytes(rows),
        [0] * (fmt.KIND_SLOTS * rows),
        {},
    )
    block = fmt.encode_index(bloated)
    with pytest.raises(LogFormatError, match=f"lists {rows} chunks, more than fit before it"):
        fmt.decode_index(block, index_offset, max_rows=fit)
    bad = tmp_path / "bloated.pdlz"
    bad.write_bytes(data[:index_offset] + block + fmt.encode_trailer(index_offset, len(block)))
    with open_log(bad) as log:
        assert not log.has_index and any("more than fit" in str(p) for p in log.problems)
        assert log.summary().events == len(small_stream(0.5))


zero_runs = st.lists(
    st.tuples(st.integers(min_value=0, max_value=1 << 20), st.integers(min_value=1, max_value=1 << 17)),
    min_size=1,
    max_size=3,
)


def zero_out(data: bytes, runs: list[tuple[int, int]], tail: int) -> bytes:
    """`data` with runs of bytes zeroed (what a lost write leaves) and `tail` zero bytes appended (a power loss)."""
    buf = bytearray(data)
    for pos, length in runs:
        start = pos % len(buf)
        buf[start : start + length] = bytes(len(buf[start : start + length]))
    return bytes(buf) + bytes(tail)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=zero_runs, tail=st.sampled_from([0, 1, 3, 4, 100, 70_000]), which=st.integers(0, 1))
def test_zeroed_stretches_and_zero_tails_raise_only_log_format_errors(fuzz_seed, tmp_path, runs, tail, which):
    path = tmp_path / ("z.pdlz" if which == 0 else "z.bin")
    path.write_bytes(zero_out(fuzz_seed[which], runs, tail))
    read_every_way(path)


def json_nested(depth: int, kind: str) -> bytes:
    inner = b"[" * depth + b"]" * depth if kind == "list" else b'{"a":' * depth + b"1" + b"}" * depth
    return b'{"x":' + inner + b"}"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=st.integers(min_value=1, max_value=200_000), kind=st.sampled_from(["list", "dict"]), where=st.booleans())
def test_nested_json_in_header_or_statistics_raises_only_log_format_errors(fuzz_seed, tmp_path, depth, kind, where):
    """Checksums valid: the metadata (header) or the index statistics are JSON nested `depth` deep."""
    data = fuzz_seed[0]
    nested = json_nested(depth, kind)
    if where:  # the header's metadata
        head_size = fmt.header_size_needed(data[: fmt.FILE_HEAD_SIZE])
        head = struct.pack("<8sHHI", fmt.MAGIC, *fmt.VERSION, len(nested)) + nested
        data = head + struct.pack("<I", zlib.crc32(head)) + data[head_size:]
    else:  # the index statistics: rebuild the index block around them
        *_, (start, _, stop) = blocks_of(data)
        index = fmt.decode_index(data[start:stop], start)
        index.stats = {}
        block = fmt.encode_index(index)
        raw_stats = b"{}"
        assert block.endswith(raw_stats)
        body = block[fmt.INDEX_HEAD_SIZE : -len(raw_stats)] + nested
        n, _ = struct.unpack_from("<II", body)
        body = struct.pack("<II", n, len(nested)) + body[8:]
        block = struct.pack("<4sB3sIII", fmt.INDEX_MAGIC, 0, b"\0\0\0", len(body), len(body), zlib.crc32(body)) + body
        data = data[:start] + block + fmt.encode_trailer(start, len(block))
    path = tmp_path / "n.pdlz"
    path.write_bytes(data)
    read_every_way(path)
    if depth > 64:  # deeper than any real metadata: refused by name, never a RecursionError
        if where:
            with pytest.raises(LogFormatError, match="nested"):
                open_log(path)
        else:
            with open_log(path) as log:
                assert not log.has_index and "nested" in str(log.problems[0])
