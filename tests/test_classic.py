"""The classic format: byte-compatible with pdrecord, streaming, and safe on bad input."""

from __future__ import annotations

import io
import struct
import subprocess
import tracemalloc
import warnings

import pytest

from pdlogkit import Event, LogFormatError, TruncatedLogWarning, open_log
from pdlogkit import schema as pb
from pdlogkit.files.classic import ClassicReader, ClassicWriter
from pdlogkit.formats.classic import RecordParser, encode_record


def _event(**kind) -> bytes:
    return pb.PurpleDropEvent(**kind).SerializeToString()


HV = _event(hv_regulator=pb.HvRegulator(voltage=200.5, v_target_out=2.0, timestamp=pb.Timestamp(seconds=7, nanos=5)))
INFO = _event(device_info=pb.DeviceInfo(connected=True, serial_number="PD-1"))
ACTIVE = _event(active_capacitance=pb.ActiveCapacitance(timestamp=pb.Timestamp(seconds=8), calibrated=4.5))


def test_written_file_is_exactly_length_prefix_and_payload_like_pdrecord(tmp_path):
    path = tmp_path / "run.bin"
    with ClassicWriter(path) as writer:
        for payload in (HV, INFO, ACTIVE, b""):
            writer.write(payload)
    expected = b"".join(struct.pack("<I", len(p)) + p for p in (HV, INFO, ACTIVE, b""))
    assert path.read_bytes() == expected
    assert encode_record(HV) == len(HV).to_bytes(4, "little") + HV


def test_reading_gives_kind_payload_offset_time_and_lazy_message(tmp_path):
    path = tmp_path / "run.bin"
    path.write_bytes(encode_record(HV) + encode_record(INFO) + encode_record(ACTIVE))
    events = list(open_log(path))
    assert [e.kind for e in events] == ["hv_regulator", "device_info", "active_capacitance"]
    assert [e.payload for e in events] == [HV, INFO, ACTIVE]
    assert [e.offset for e in events] == [0, 4 + len(HV), 8 + len(HV) + len(INFO)]
    assert events[0].time == pytest.approx(7.000000005)  # the timestamp is field 3 in HvRegulator
    assert events[1].time is None  # device_info carries no timestamp
    assert events[2].time == 8.0
    assert events[0].message.hv_regulator.voltage == pytest.approx(200.5)


def test_a_zero_timestamp_counts_as_none():
    payload = _event(settings=pb.Settings(timestamp=pb.Timestamp(), frequency=500.0))
    assert Event(payload).time is None


def test_every_kind_is_recognised_from_its_first_byte(synth_log):
    kinds = {e.kind for e in open_log(synth_log)}
    assert kinds >= {"image", "image_transform", "scan_capacitance", "active_capacitance", "electrode_state"}
    for event in open_log(synth_log).events(kinds=["image"]):
        assert event.message.WhichOneof("msg") == "image"
        assert event.time == pytest.approx(
            event.message.image.timestamp.seconds + event.message.image.timestamp.nanos / 1e9
        )


def test_a_file_object_and_a_pipe_read_the_same_as_a_path(synth_log):
    by_path = [(e.offset, e.payload) for e in ClassicReader(synth_log)]
    with open(synth_log, "rb") as f:
        by_file = [(e.offset, e.payload) for e in ClassicReader(f)]
    cat = subprocess.Popen(["cat", str(synth_log)], stdout=subprocess.PIPE)
    by_pipe = [(e.offset, e.payload) for e in ClassicReader(cat.stdout)]
    cat.wait()
    assert by_path == by_file == by_pipe
    assert len(by_path) > 1000


def test_a_recorder_killed_mid_write_leaves_a_file_that_reads_back(synth_log, tmp_path):
    data = synth_log.read_bytes()
    complete = list(ClassicReader(synth_log))
    cut = complete[300].offset + 2  # inside the header of record 300
    for end in (cut, complete[300].offset + 7, complete[301].offset - 1):
        path = tmp_path / "cut.bin"
        path.write_bytes(data[:end])
        with pytest.warns(TruncatedLogWarning, match="truncated last record at byte"):
            reader = ClassicReader(path)
            got = [e.payload for e in reader]
        assert got == [e.payload for e in complete[:300]]
        assert reader.truncation is not None and reader.truncation.offset == complete[300].offset
        stream = ClassicReader(io.BytesIO(data[:end]), warn=False)
        assert [e.payload for e in stream] == got and stream.truncation == reader.truncation


def test_garbage_raises_log_format_error_naming_the_byte_offset(tmp_path):
    path = tmp_path / "notes.bin"
    path.write_bytes(encode_record(HV) + b"these are not the records you are looking for")
    with pytest.raises(LogFormatError, match=rf"notes.bin: byte {4 + len(HV)}: record declares"):
        list(ClassicReader(path))
    with pytest.raises(LogFormatError, match=rf"byte {4 + len(HV)}"):
        list(ClassicReader(io.BytesIO(path.read_bytes())))


def test_an_absurd_length_is_refused_without_allocating_it():
    parser = RecordParser()
    tracemalloc.start()
    with pytest.raises(LogFormatError, match="byte 0: record declares 4294967295 bytes"):
        parser.receive_data(b"\xff\xff\xff\xff" + b"\x1a" * 100)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_000_000


def test_a_length_beyond_the_end_that_does_not_start_an_event_is_corruption(tmp_path):
    path = tmp_path / "bad.bin"
    path.write_bytes(encode_record(HV) + struct.pack("<I", 5000) + b"\x00" * 40)
    with pytest.raises(LogFormatError, match="only 40 remain"):
        list(ClassicReader(path))


def test_an_unparsable_payload_raises_when_its_message_is_asked_for(tmp_path):
    path = tmp_path / "run.bin"
    broken = b"\x42\x7f\x01"  # hv_regulator tag, then a length running past the end
    path.write_bytes(encode_record(HV) + encode_record(broken))
    events = list(open_log(path))
    assert events[1].kind == "hv_regulator" and events[1].time is None
    with pytest.raises(LogFormatError, match=rf"run.bin: byte {4 + len(HV)}: payload is not a PurpleDropEvent"):
        events[1].message


def test_an_empty_file_is_an_empty_log(tmp_path):
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    assert list(open_log(path)) == []
    assert open_log(path).summary().events == 0


def test_memory_stays_flat_whatever_the_file_size(tmp_path):
    path = tmp_path / "big.bin"
    frame = _event(image=pb.Image(timestamp=pb.Timestamp(seconds=1), image_data=b"\xff" * 500_000))
    with ClassicWriter(path) as writer:
        for _ in range(200):  # 100 MB
            writer.write(frame)
    tracemalloc.start()
    total = 0
    for event in ClassicReader(path):
        total += len(event.payload)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total == 200 * len(frame)
    assert peak < 5 * len(frame)  # a record or two at a time, never the file


def test_stream_parser_handles_records_split_across_any_feed_boundary():
    data = encode_record(HV) + encode_record(INFO) + encode_record(ACTIVE)
    for step in (1, 2, 3, 5, 7, 64):
        parser = RecordParser()
        out = []
        for i in range(0, len(data), step):
            parser.receive_data(data[i : i + step])
            out.extend(parser.records_received())
        parser.receive_eof()
        assert [p for _, p in out] == [HV, INFO, ACTIVE]
        assert parser.truncation is None


def test_the_stream_parser_is_eager_so_no_bytes_are_dropped_unread():
    """Bytes fed are parsed at once: records wait until asked for, and never come twice."""
    data = encode_record(HV) + encode_record(INFO) + encode_record(ACTIVE)
    parser = RecordParser()
    parser.receive_data(data[:10])
    parser.receive_data(data[10:])  # the caller never looked in between
    first = parser.records_received()
    assert [p for _, p in first] == [HV, INFO, ACTIVE]
    assert parser.records_received() == []  # handed out once
    parser.receive_data(encode_record(HV)[:3])
    parser.receive_eof()
    assert parser.truncation is not None and parser.truncation.offset == len(data)


def test_time_windows_and_kind_filters_match_a_brute_force_scan(sensor_log):
    log = open_log(sensor_log)
    start_ns = log.summary().start_ns
    window = list(log.events(kinds=["scan_capacitance", "electrode_state"], start=10, end=20))
    expected, carried = [], start_ns
    for e in open_log(sensor_log):
        carried = e.time_ns if e.time_ns is not None else carried
        if e.kind in ("scan_capacitance", "electrode_state") and 10e9 <= carried - start_ns < 20e9:
            expected.append(e.payload)
    assert [e.payload for e in window] == expected
    assert 35 <= len(window) <= 50  # 4 scans a second for 10 s, plus a few electrode changes


def test_a_missing_file_is_an_os_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.bin"):
        open_log(tmp_path / "nothing.bin")


def test_warnings_can_be_silenced_per_reader(synth_log, tmp_path):
    path = tmp_path / "cut.bin"
    path.write_bytes(synth_log.read_bytes()[:50_000])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reader = ClassicReader(path, warn=False)
        list(reader)
    assert reader.truncation is not None
