"""Markers and metadata learned while recording: inside a container (version 1.1), beside a classic log, and
through every command. An older reader (container 1.0, frozen in tests/data/reader_1_0) still reads the events."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from pdlogkit import LogFormatError, Marker, open_log
from pdlogkit.files.indexed_writer import IndexedWriter
from pdlogkit.formats import container as fmt
from pdlogkit.log import StreamLog
from pdlogkit.ops import convert, merge_logs, recover_log, slice_log
from pdlogkit.synth import SynthStream

DATA = Path(__file__).parent / "data"
PDLOGKIT = [sys.executable, "-m", "pdlogkit"]
BOARD = {"layout": {"grids": [{"origin": [0, 0], "pitch": 1, "pins": [[1, 2]]}], "peripherals": []}}


def _stream(seconds: float = 6.0, **options) -> list[tuple[int, bytes]]:
    return list(SynthStream(seconds, seed=4, frame_size=(96, 64), **options))


@pytest.fixture(scope="module")
def stream() -> list[tuple[int, bytes]]:
    return _stream()


def _marked(path, stream, *, close: bool = True) -> tuple[list[Marker], IndexedWriter]:
    """A container of `stream` with two markers and a metadata update added while writing."""
    writer = IndexedWriter(path, metadata={"source": "test", "notes": "before"})
    markers = []
    for i, (t, payload) in enumerate(stream):
        writer.write(payload, t)
        if i == 40:
            markers.append(Marker(t, "dispense reagent B", {"step": 3}))
            writer.add_marker(markers[-1])
            writer.update_metadata({"board": BOARD, "notes": None})
        if i == 300:
            markers.append(Marker(t, "wash", {}))
            writer.add_marker(markers[-1])
    if close:
        writer.close()
    else:
        writer.flush()
    return markers, writer


def test_a_container_holds_its_markers_and_late_metadata_inside(tmp_path, stream):
    markers, _ = _marked(tmp_path / "run.pdlz", stream)
    log = open_log(tmp_path / "run.pdlz")
    assert log.markers() == markers
    assert log.metadata["board"] == BOARD and "notes" not in log.metadata  # a None update removes a key
    assert log.metadata["source"] == "test"
    header, _ = fmt.decode_header((tmp_path / "run.pdlz").read_bytes())
    assert "board" not in header and header["notes"] == "before"  # learned after the header was written
    assert [e.payload for e in log] == [p for _, p in stream]
    assert log.verify().ok


def test_a_killed_writer_leaves_its_markers_in_the_file(tmp_path, stream):
    markers, writer = _marked(tmp_path / "killed.pdlz", stream, close=False)  # flushed, never closed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log = open_log(tmp_path / "killed.pdlz")
        assert not log.has_index
        assert log.markers() == markers and log.metadata["board"] == BOARD
        assert len(list(log)) == len(stream)
    writer.abort()


def test_a_stream_reader_finds_the_markers_as_it_reads(tmp_path, stream):
    markers, _ = _marked(tmp_path / "run.pdlz", stream)
    with open(tmp_path / "run.pdlz", "rb") as f:
        log = StreamLog(f)
        assert len(list(log.events())) == len(stream)
        assert log.markers() == markers and log.metadata["board"] == BOARD


def test_markers_ride_the_next_chunk_even_when_only_camera_frames_are_open(tmp_path, stream):
    writer = IndexedWriter(tmp_path / "frames.pdlz")
    images = [(t, p) for t, p in stream if p[0] >> 3 == 3][:5]
    writer.write(*reversed(images[0]))
    writer.add_marker(Marker(images[0][0], "only frames"))
    for t, p in images[1:]:
        writer.write(p, t)
    writer.flush()
    writer.add_marker(Marker(images[-1][0], "no event after me"))  # reaches the index at close only
    writer.close()
    data = (tmp_path / "frames.pdlz").read_bytes()
    head = fmt.decode_header(data)[1]
    first = fmt.next_block(data[head : head + fmt.MAX_CHUNK_HEADER], head, len(data) - head).chunk
    assert first.extras and first.compressed  # the image chunk, compressed to carry them
    assert [m.text for m in open_log(tmp_path / "frames.pdlz").markers()] == ["only frames", "no event after me"]


def test_a_broken_extras_frame_is_a_corrupt_chunk(tmp_path, stream):
    _marked(tmp_path / "run.pdlz", stream[:100])
    data = bytearray((tmp_path / "run.pdlz").read_bytes())
    at = data.find(fmt.EXTRAS_TAG)
    data[at + 6] ^= 0xFF  # inside the JSON
    cut = data[: data.rfind(fmt.INDEX_MAGIC)]  # no index: the reader must read the chunk for its extras
    (tmp_path / "bad.pdlz").write_bytes(cut)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(LogFormatError, match="checksum"):
            list(open_log(tmp_path / "bad.pdlz"))
        lenient = open_log(tmp_path / "bad.pdlz", lenient=True)
        assert lenient.markers() == [] and any("checksum" in str(p) for p in lenient.problems)


OLD_READER = """
import sys, json
sys.path.insert(0, sys.argv[1])
from pdlogkit.files.indexed import IndexedReader, read_indexed_stream
path = sys.argv[2]
reader = IndexedReader(path)
indexed = [e.payload.hex() for e in reader.events(warn=False)]
with open(path, "rb") as f:
    streamed = [e.payload.hex() for e in read_indexed_stream(f)]
print(json.dumps({"indexed": indexed, "streamed": streamed, "has_index": reader.indexed,
                  "problems": [d.kind.value for d in reader.problems]}))
"""


@pytest.mark.parametrize("closed", [True, False], ids=["closed", "killed"])
def test_an_older_reader_still_reads_every_event_of_a_file_with_markers(tmp_path, stream, closed):
    _, writer = _marked(tmp_path / "run.pdlz", stream, close=closed)
    result = subprocess.run(
        [sys.executable, "-c", OLD_READER, str(DATA / "reader_1_0"), str(tmp_path / "run.pdlz")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    expected = [p.hex() for _, p in stream]
    assert seen["indexed"] == expected and seen["streamed"] == expected
    assert seen["has_index"] is closed
    assert seen["problems"] == ([] if closed else ["no index"])  # no damage reported
    if not closed:
        writer.abort()


@pytest.fixture
def marked_log(tmp_path, stream):
    markers, _ = _marked(tmp_path / "run.pdlz", stream)
    return tmp_path / "run.pdlz", markers


def test_convert_carries_markers_to_a_classic_sidecar_and_back(marked_log, tmp_path):
    src, markers = marked_log
    convert(src, tmp_path / "run.bin")
    classic = open_log(tmp_path / "run.bin")
    assert classic.markers() == markers and classic.metadata["board"] == BOARD
    assert (tmp_path / "run.bin.pdmeta").exists()
    convert(tmp_path / "run.bin", tmp_path / "again.pdlz")
    assert open_log(tmp_path / "again.pdlz").markers() == markers


def test_slice_keeps_the_markers_in_its_window_and_merge_all_of_them(marked_log, tmp_path):
    src, markers = marked_log
    log = open_log(src)
    start = (markers[0].time_ns - log.start_ns) / 1e9
    slice_log(src, tmp_path / "first.pdlz", start=start - 0.5, end=start + 0.5)
    assert open_log(tmp_path / "first.pdlz").markers() == markers[:1]
    slice_log(src, tmp_path / "late.bin", start=start + 0.5)
    assert open_log(tmp_path / "late.bin").markers() == markers[1:]
    merge_logs(tmp_path / "merged.pdlz", [tmp_path / "first.pdlz", tmp_path / "late.bin"])
    assert open_log(tmp_path / "merged.pdlz").markers() == markers


def test_recover_saves_the_markers_of_a_killed_recording(tmp_path, stream):
    markers, writer = _marked(tmp_path / "killed.pdlz", stream, close=False)
    report = recover_log(tmp_path / "killed.pdlz", tmp_path / "saved.pdlz")
    assert report.events == len(stream)
    saved = open_log(tmp_path / "saved.pdlz")
    assert saved.markers() == markers and saved.has_index
    writer.abort()


def test_cat_shows_markers_in_time_order_with_the_events_and_info_lists_them(marked_log):
    src, markers = marked_log
    result = subprocess.run([*PDLOGKIT, "cat", str(src)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    shown = [line for line in lines if line["kind"] == "marker"]
    assert shown == [{"time": m.time, "kind": "marker", "text": m.text, "fields": m.fields} for m in markers]
    times = [line["time"] for line in lines]
    position = lines.index(shown[0])
    assert times[position - 1] <= shown[0]["time"] <= times[position + 1]
    only = subprocess.run([*PDLOGKIT, "cat", str(src), "--kinds", "marker"], capture_output=True, text=True)
    assert [json.loads(line)["text"] for line in only.stdout.splitlines()] == [m.text for m in markers]
    with open(src, "rb") as f:
        piped = subprocess.run([*PDLOGKIT, "cat", "-"], stdin=f, capture_output=True, text=True)
    assert piped.stdout == result.stdout  # from a pipe too
    info = subprocess.run([*PDLOGKIT, "info", str(src)], capture_output=True, text=True)
    assert "dispense reagent B" in info.stdout and '"step": 3' in info.stdout
