"""Convert, slice, merge, verify and recover logs from a script, as the commands do."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from pdlogkit import open_log
from pdlogkit import schema as pb
from pdlogkit.files.classic import ClassicWriter
from pdlogkit.files.indexed import IndexedReader
from pdlogkit.log import open_writer
from pdlogkit.logtools import (
    NOTHING_LOST,
    NOTHING_RECOVERABLE,
    SOME_LOST,
    convert,
    event_dicts,
    index_log,
    merge_logs,
    recover_log,
    slice_log,
    stream_events,
    verify_log,
)
from pdlogkit.synth import SynthStream, write_log


@pytest.fixture(scope="module")
def camera_log(real_frames: list[bytes], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classic log of real camera frames interleaved with synthetic sensor events, some without timestamps."""
    frames = real_frames
    path = tmp_path_factory.mktemp("tools") / "real_frames.bin"
    with ClassicWriter(path) as w:
        for i, (t, payload) in enumerate(SynthStream(6.0, seed=3, camera=False)):
            w.write(payload)
            if i % 40 == 0:
                stamp = pb.Timestamp(seconds=t // 10**9, nanos=t % 10**9)
                image = pb.Image(timestamp=stamp, image_data=frames[(i // 40) % len(frames)])
                w.write(pb.PurpleDropEvent(image=image).SerializeToString())
    return path


def test_classic_to_container_and_back_reproduces_the_file_byte_for_byte(synth_log, camera_log, tmp_path):
    for original in (synth_log, camera_log):
        container = tmp_path / (original.stem + ".pdlz")
        back = tmp_path / (original.stem + ".back.bin")
        there = convert(original, container)
        again = convert(container, back)
        assert back.read_bytes() == original.read_bytes()
        assert there.events == again.events == open_log(original).summary().events
        assert open_log(container).summary().time_source == "timestamps"


def test_a_sensor_only_container_is_about_half_the_size_of_classic(sensor_log, tmp_path):
    """The issue aimed at 25% of classic for sensor-only logs; on this synthetic log it is about 46% (level 9).

    Not met because the synthetic sensor values are pseudo-random noise, which no compressor shrinks; the
    columns, deltas and zstd remove the framing and timestamps, not the noise. Real gateway data may do better.
    """
    container = tmp_path / "sensors.pdlz"
    report = convert(sensor_log, container, level=9)
    assert report.bytes_out <= 0.5 * report.bytes_in


def test_a_slice_holds_exactly_the_window_and_kinds_asked_for(synth_log, tmp_path):
    for out in (tmp_path / "slice.pdlz", tmp_path / "slice.bin"):
        slice_log(synth_log, out, start=4.0, end=6.5, kinds=["image", "scan_capacitance"])
        want = [e.payload for e in open_log(synth_log).events(kinds=["image", "scan_capacitance"], start=4, end=6.5)]
        assert [e.payload for e in open_log(out).events()] == want
        assert want


def test_merging_interleaves_logs_by_time(tmp_path):
    a, b = tmp_path / "a.pdlz", tmp_path / "b.bin"
    write_log(a, 3.0, seed=1, camera=False)
    write_log(b, 3.0, seed=2, camera=False, start_ns=1_767_225_600 * 10**9 + 500_000_000)
    report = merge_logs(tmp_path / "m.pdlz", [a, b])
    with open_log(tmp_path / "m.pdlz") as merged:
        times = [e.received_ns for e in merged.events()]
        assert report.events == len(times) == open_log(a).summary().events + open_log(b).summary().events
        assert times == sorted(times)
        assert merged.summary().metadata["merged_from"] == ["a.pdlz", "b.bin"]


def test_merging_a_log_with_itself_gives_every_event_twice_ties_in_input_order(tmp_path):
    a = tmp_path / "a.pdlz"
    write_log(a, 1.0, seed=1, camera=False)
    with open_log(a) as log:
        once = [(e.received_ns, e.payload) for e in log.events()]
    merge_logs(tmp_path / "twice.pdlz", [a, a])
    with open_log(tmp_path / "twice.pdlz") as merged:
        assert [(e.received_ns, e.payload) for e in merged.events()] == sorted(once + once, key=lambda te: te[0])

    # Two logs with events at the same times: at each time, the first input's event comes first.
    payloads = [p for _, p in SynthStream(0.5, seed=4, camera=False)][:6]
    for name, chosen in (("x.pdlz", payloads[:3]), ("y.pdlz", payloads[3:])):
        with open_writer(tmp_path / name) as w:
            for k, p in enumerate(chosen):
                w.write(p, 10**18 + k)
    for order, inputs in (("xy", ["x.pdlz", "y.pdlz"]), ("yx", ["y.pdlz", "x.pdlz"])):
        merge_logs(tmp_path / f"{order}.pdlz", [tmp_path / n for n in inputs])
        first, second = (payloads[:3], payloads[3:]) if order == "xy" else (payloads[3:], payloads[:3])
        with open_log(tmp_path / f"{order}.pdlz") as merged:
            assert [e.payload for e in merged.events()] == [p for pair in zip(first, second, strict=True) for p in pair]


def test_a_sound_log_verifies_in_either_format(synth_log, tmp_path):
    container = tmp_path / "ok.pdlz"
    convert(synth_log, container)
    for path in (synth_log, container):
        report = verify_log(path)
        assert report.ok, report.problems
        assert report.events == open_log(synth_log).summary().events


def test_verify_names_a_corrupt_chunk_and_a_truncated_tail(synth_log, tmp_path):
    container = tmp_path / "bad.pdlz"
    convert(synth_log, container)
    with IndexedReader(container) as reader:
        info, _ = reader.read_chunk(5)
    data = bytearray(container.read_bytes())
    data[info.body_offset + 3] ^= 0x01
    container.write_bytes(bytes(data))
    report = verify_log(container)
    assert not report.ok
    assert any(f"byte {info.offset}" in p and "checksum" in p for p in report.problems)

    cut = tmp_path / "cut.bin"
    cut.write_bytes(synth_log.read_bytes()[:-100])
    report = verify_log(cut)
    assert not report.ok and any("truncated" in p for p in report.problems)


def test_verify_reads_each_chunk_once_and_names_a_corrupt_one_once(synth_log, tmp_path, monkeypatch):
    container = tmp_path / "bad.pdlz"
    convert(synth_log, container)
    with IndexedReader(container) as reader:
        info, _ = reader.read_chunk(3)
        chunks = reader.chunk_count
    data = bytearray(container.read_bytes())
    data[info.body_offset + 3] ^= 0x01
    container.write_bytes(bytes(data))
    reads: list[int] = []
    real = IndexedReader.read_chunk
    monkeypatch.setattr(IndexedReader, "read_chunk", lambda self, i, **kw: reads.append(i) or real(self, i, **kw))
    report = verify_log(container)
    assert sorted(reads) == list(range(chunks))
    assert [p for p in report.problems if f"byte {info.offset}" in p] == [
        f"byte {info.offset}: chunk body checksum mismatch (corrupt chunk)"
    ]


def test_recover_says_whether_anything_was_lost(synth_log, tmp_path):
    container = tmp_path / "whole.pdlz"
    convert(synth_log, container)
    data = container.read_bytes()
    with IndexedReader(container) as reader:
        index_offset = reader.data_end
        last_chunk_end = reader.read_chunk(reader.chunk_count - 1)[0].end_offset

    unclosed = tmp_path / "unclosed.pdlz"  # killed right after a flush: chunks complete, no index
    unclosed.write_bytes(data[:index_offset])
    report = recover_log(unclosed, tmp_path / "r1.pdlz")
    assert (report.status, report.events) == (NOTHING_LOST, open_log(container).summary().events)
    assert verify_log(tmp_path / "r1.pdlz").ok

    cut = tmp_path / "cut.pdlz"  # killed mid-chunk
    cut.write_bytes(data[: last_chunk_end - 10])
    report = recover_log(cut, tmp_path / "r2.bin")
    assert report.status == SOME_LOST and 0 < report.events < open_log(container).summary().events
    verdict = verify_log(tmp_path / "r2.bin")  # the classic output's metadata sidecar keeps what was lost
    assert not verdict.ok and verdict.problems[0].startswith("incomplete: recovered from cut.pdlz")

    nothing = tmp_path / "nothing.pdlz"
    nothing.write_bytes(data[:200])
    report = recover_log(nothing, tmp_path / "r3.pdlz")
    assert (report.status, report.events) == (NOTHING_RECOVERABLE, 0)

    cut_classic = tmp_path / "cut.bin"
    cut_classic.write_bytes(synth_log.read_bytes()[:-7])
    report = recover_log(cut_classic, tmp_path / "r4.bin")
    assert report.status == SOME_LOST and "truncated" in report.lost[0]
    recovered = (tmp_path / "r4.bin").read_bytes()
    assert synth_log.read_bytes().startswith(recovered) and len(recovered) > len(synth_log.read_bytes()) - 200_000


def test_a_container_with_a_damaged_header_gives_up_its_metadata_not_its_events(synth_log, tmp_path):
    from pdlogkit import LogFormatError

    container = tmp_path / "h.pdlz"
    convert(synth_log, container)
    data = bytearray(container.read_bytes())
    data[20] ^= 0xFF  # inside the metadata JSON: the header's checksum fails
    container.write_bytes(bytes(data))
    with pytest.raises(LogFormatError, match="header checksum"):
        open_log(container)
    report = recover_log(container, tmp_path / "saved.bin")
    assert report.status == SOME_LOST and "metadata lost" in report.lost[0]
    assert (tmp_path / "saved.bin").read_bytes() == synth_log.read_bytes()


def test_index_writes_a_sidecar_for_classic_and_nothing_for_a_container(synth_log, tmp_path):
    classic = tmp_path / "c.bin"
    shutil.copy2(synth_log, classic)
    sidecar = index_log(classic)
    assert sidecar is not None and Path(sidecar).exists()
    assert open_log(classic).summary().source == "sidecar"
    container = tmp_path / "c.pdlz"
    convert(classic, container)
    assert index_log(container) is None


def test_events_as_dicts_show_image_hashes_not_bytes_unless_asked(camera_log):
    import base64
    import hashlib

    first = next(event_dicts(camera_log, kinds=["image"]))
    frame = next(e for e in open_log(camera_log).events(kinds=["image"])).message.image.image_data
    assert first["fields"]["image_data"] == {"size": len(frame), "sha256": hashlib.sha256(frame).hexdigest()}
    assert first["kind"] == "image" and first["time"] > 1.7e9
    full = next(event_dicts(camera_log, kinds=["image"], with_images=True))
    assert base64.b64decode(full["fields"]["image_data"]) == frame


def test_events_stream_from_a_reader_without_look_ahead_in_either_format(synth_log, tmp_path):
    import io

    from pdlogkit.logtools import stream_events

    class Raw(io.RawIOBase):  # a socket-like stream: no peek, no seek
        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            out, self.data = self.data[:n], self.data[n:]
            return out

    container = tmp_path / "s.pdlz"
    convert(synth_log, container)
    want = [e.payload for e in open_log(synth_log).events(kinds=["image"])]
    for path in (synth_log, container):
        assert [e.payload for e in stream_events(Raw(path.read_bytes()), kinds=["image"])] == want


class Trickle(io.RawIOBase):
    """A stream that hands over at most 3 bytes per read, like a slow pipe."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(3, len(buffer), len(self.data) - self.pos)
        buffer[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


def test_a_container_trickling_in_a_few_bytes_at_a_time_is_told_from_classic(tmp_path):
    container = tmp_path / "c.pdlz"
    write_log(container, 2.0, seed=1, camera=False)
    with open_log(container) as log:
        want = [e.payload for e in log.events(kinds=["device_info"])]
    got = [e.payload for e in stream_events(io.BufferedReader(Trickle(container.read_bytes())), kinds=["device_info"])]
    assert got == want and want


def test_a_tool_refuses_to_overwrite_its_input(synth_log):
    with pytest.raises(ValueError, match="is the input"):
        convert(synth_log, synth_log)
