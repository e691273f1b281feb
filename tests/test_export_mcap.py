"""MCAP both ways: what pdlogkit writes, read back with the mcap library; MCAP files read as logs."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

mcap_reader = pytest.importorskip("mcap.reader")
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # noqa: E402
from mcap.writer import CompressionType, Writer  # noqa: E402

from pdlogkit import LogFormatError, Marker, TruncatedLogWarning, convert, open_log  # noqa: E402
from pdlogkit import schema as pb  # noqa: E402
from pdlogkit.export import export_log  # noqa: E402
from pdlogkit.export.foxglove import event_descriptor_set  # noqa: E402
from pdlogkit.files.classic import ClassicWriter  # noqa: E402
from pdlogkit.files.sources import FileSource  # noqa: E402

START = 1_767_225_600 * 10**9


@pytest.fixture(scope="module")
def exported(synth_log, tmp_path_factory) -> Path:
    """The 20 s camera log as MCAP (read-only)."""
    out = tmp_path_factory.mktemp("mcap") / "run.mcap"
    report = export_log(synth_log, out)
    assert report.format == "mcap" and report.files == [str(out)]
    return out


def _message_class(schema):
    """The protobuf class a schema's FileDescriptorSet describes (what Foxglove does with it)."""
    files = descriptor_pb2.FileDescriptorSet.FromString(schema.data)
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(schema.name))


def test_the_mcap_library_reads_every_event_byte_for_byte_on_its_kinds_channel(synth_log, exported):
    with open(exported, "rb") as f:
        reader = mcap_reader.make_reader(f)
        summary = reader.get_summary()
        messages = list(reader.iter_messages(log_time_order=False))
    with open_log(synth_log) as log:
        expected = [(t, e.kind, e.payload, e.time_ns) for t, e in log.timed_events()]
        counts = log.summary().counts
    topics = {c.topic for c in summary.channels.values()}
    assert topics == {f"/purpledrop/{k}" for k in counts} | {"/camera/image"}
    events = [(s, c, m) for s, c, m in messages if c.topic.startswith("/purpledrop/")]
    events.sort(key=lambda x: x[2].sequence)  # the sequence number is the event's position in the log
    assert [m.sequence for _, _, m in events] == list(range(len(expected)))
    for (schema, channel, message), (t, kind, payload, stamp) in zip(events, expected, strict=True):
        assert channel.topic == f"/purpledrop/{kind}" and channel.message_encoding == "protobuf"
        assert schema.name == "protobuf.PurpleDropEvent" and schema.encoding == "protobuf"
        assert message.data == payload
        assert message.log_time == t
        assert message.publish_time == (stamp if stamp is not None else t)
    event_class = _message_class(events[0][0])
    assert event_class.FromString(events[0][2].data).WhichOneof("msg") == expected[0][1]
    assert summary.statistics.message_count == len(messages)
    assert summary.statistics.channel_message_counts  # a summary: the file opens at once


def test_camera_frames_are_foxglove_compressed_images(synth_log, exported):
    with open(exported, "rb") as f:
        reader = mcap_reader.make_reader(f)
        images = list(reader.iter_messages(topics=["/camera/image"]))
    with open_log(synth_log) as log:
        frames = [(t, e.message.image) for t, e in log.timed_events(["image"])]
    assert len(images) == len(frames) > 0
    schema = images[0][0]
    assert schema.name == "foxglove.CompressedImage" and schema.encoding == "protobuf"
    image_class = _message_class(schema)
    for (_, channel, message), (t, frame) in zip(images, frames, strict=True):
        decoded = image_class.FromString(message.data)
        assert decoded.format == "jpeg" and decoded.frame_id == "camera"
        assert decoded.data == frame.image_data
        assert (decoded.timestamp.seconds, decoded.timestamp.nanos) == (frame.timestamp.seconds, frame.timestamp.nanos)
        assert message.log_time == t
        assert channel.message_encoding == "protobuf"


def test_camera_frames_are_in_chunks_of_their_own_and_each_frame_is_stored_about_once(exported):
    with open(exported, "rb") as f:
        summary = mcap_reader.make_reader(f).get_summary()
    by_topic = {c.id: c.topic for c in summary.channels.values()}
    camera = {"/purpledrop/image", "/camera/image"}
    sensor_chunks = [c for c in summary.chunk_indexes if not {by_topic[i] for i in c.message_index_offsets} & camera]
    camera_chunks = [c for c in summary.chunk_indexes if c not in sensor_chunks]
    assert all({by_topic[i] for i in c.message_index_offsets} <= camera for c in camera_chunks)
    assert sensor_chunks and camera_chunks
    assert {c.compression for c in summary.chunk_indexes} == {"zstd"}
    # A frame is in its chunk twice (event and image): compressed, the pair costs about one frame.
    raw = sum(c.uncompressed_size for c in camera_chunks)
    assert sum(c.compressed_size for c in camera_chunks) < 0.6 * raw


def test_classic_to_mcap_and_back_is_byte_identical(synth_log, exported, tmp_path):
    back = tmp_path / "back.bin"
    convert(exported, back)
    assert back.read_bytes() == synth_log.read_bytes()
    via_convert = tmp_path / "run.mcap"
    report = convert(synth_log, via_convert)  # convert writes MCAP too, by the extension
    assert report.format == "mcap"
    container = tmp_path / "run.pdlz"
    convert(via_convert, container)
    again = tmp_path / "again.bin"
    convert(container, again)
    assert again.read_bytes() == synth_log.read_bytes()


def test_an_mcap_reads_as_a_log_with_kinds_and_windows(synth_log, exported):
    with open_log(exported) as mcap, open_log(synth_log) as classic:
        assert mcap.format == "mcap" and mcap.has_index
        assert mcap.summary().counts == classic.summary().counts
        assert mcap.time_source == "timestamps"  # from the classic log it was made of
        window = [(t, e.payload) for t, e in mcap.timed_events(["scan_capacitance", "hv_regulator"], start=5, end=9)]
        expected = [
            (t, e.payload) for t, e in classic.timed_events(["scan_capacitance", "hv_regulator"], start=5, end=9)
        ]
        assert window == expected and window
        assert mcap.table("scan_capacitance").equals(classic.table("scan_capacitance"))


class _CountingSource(FileSource):
    def __init__(self, path):
        super().__init__(path)
        self.read = 0

    def pread(self, n, offset):
        data = super().pread(n, offset)
        self.read += len(data)
        return data


def test_reading_sensor_kinds_from_an_mcap_skips_the_camera_chunks(exported):
    from pdlogkit.files.mcap import McapLog

    source = _CountingSource(exported)
    with McapLog(source) as log:
        assert sum(1 for _ in log.events(["hv_regulator"])) > 0
    assert source.read < os.path.getsize(exported) / 20


def test_an_mcap_written_by_another_tool_reads_as_a_log(tmp_path, sensor_log):
    """One channel named otherwise, an unrelated JSON channel, lz4 chunks, no pdlogkit metadata."""
    path = tmp_path / "other.mcap"
    with open_log(sensor_log) as log:
        timed = [(t, e.payload) for t, e in log.timed_events()]
    with open(path, "wb") as f:
        writer = Writer(f, compression=CompressionType.LZ4, chunk_size=64 * 1024)
        writer.start(profile="", library="another tool")
        schema = writer.register_schema("protobuf.PurpleDropEvent", "protobuf", event_descriptor_set())
        events = writer.register_channel("/gateway/events", "protobuf", schema)
        other = writer.register_channel("/robot/status", "json", 0)
        for i, (t, payload) in enumerate(timed):
            writer.add_message(events, log_time=t, data=payload, publish_time=t, sequence=i)
            if i % 100 == 0:
                writer.add_message(other, log_time=t, data=b'{"ok": true}', publish_time=t)
        writer.finish()
    with open_log(path) as log:
        assert [(t, e.payload) for t, e in log.timed_events()] == timed
        assert log.time_source == "received"
        hv = [e.payload for e in log.events(["hv_regulator"], start=10, end=20)]
    with open_log(sensor_log) as classic:
        assert hv == [e.payload for e in classic.events(["hv_regulator"], start=10, end=20)]
    back = tmp_path / "back.bin"
    convert(path, back)
    assert back.read_bytes() == sensor_log.read_bytes()


def test_an_unchunked_mcap_without_a_summary_reads_by_scanning(tmp_path):
    path = tmp_path / "plain.mcap"
    payloads = [
        pb.PurpleDropEvent(
            hv_regulator=pb.HvRegulator(voltage=float(i), timestamp=pb.Timestamp(seconds=1_767_225_600 + i))
        ).SerializeToString()
        for i in range(20)
    ]
    with open(path, "wb") as f:
        writer = Writer(
            f,
            use_chunking=False,
            use_statistics=False,
            use_summary_offsets=False,
            repeat_channels=False,
            repeat_schemas=False,
        )
        writer.start()
        schema = writer.register_schema("protobuf.PurpleDropEvent", "protobuf", event_descriptor_set())
        channel = writer.register_channel("/purpledrop/hv_regulator", "protobuf", schema)
        for i, payload in enumerate(payloads):
            writer.add_message(channel, log_time=START + i * 10**9, data=payload, publish_time=0)
        writer.finish()
    with open_log(path) as log:
        assert [e.payload for e in log.events()] == payloads
        assert log.table("hv_regulator").column("voltage").to_pylist() == [float(i) for i in range(20)]


def test_a_cut_mcap_still_gives_every_event_before_the_cut(exported, tmp_path, synth_log):
    data = exported.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: len(data) // 2])
    with open_log(cut) as log:
        assert not log.has_index
        with pytest.warns(TruncatedLogWarning):
            events = [e.payload for e in log.events()]
        assert log.truncation is not None
    with open_log(synth_log) as classic:
        everything = [e.payload for e in classic.events()]
    assert 0 < len(events) < len(everything)
    rest = iter(everything)  # in the log's order, with at most the chunks cut off missing
    assert all(any(e == x for x in rest) for e in events)
    assert everything[: len(events) // 2] == events[: len(events) // 2]


def test_a_corrupt_chunk_is_a_log_format_error_naming_its_offset(exported, tmp_path):
    with open(exported, "rb") as f:
        chunks = [c for c in mcap_reader.make_reader(f).get_summary().chunk_indexes if c.compression == "zstd"]
    target = chunks[1]
    data = bytearray(exported.read_bytes())
    data[target.chunk_start_offset + target.chunk_length - 10] ^= 0xFF
    bad = tmp_path / "bad.mcap"
    bad.write_bytes(bytes(data))
    with open_log(bad) as log, pytest.raises(LogFormatError) as caught:
        sum(1 for _ in log.events())
    assert caught.value.offset == target.chunk_start_offset and str(bad) in str(caught.value)
    with open_log(bad, lenient=True) as log, warnings.catch_warnings():
        n = sum(1 for _ in log.events())
        assert n > 0 and [p.offset for p in log.problems] == [target.chunk_start_offset]


def test_not_an_event_mcap_is_a_clear_error(tmp_path):
    path = tmp_path / "robot.mcap"
    with open(path, "wb") as f:
        writer = Writer(f)
        writer.start()
        channel = writer.register_channel("/robot/status", "json", 0)
        writer.add_message(channel, log_time=1, data=b"{}", publish_time=1)
        writer.finish()
    with open_log(path) as log:
        assert list(log.events()) == []
        assert log.summary().events == 0


def test_markers_and_metadata_travel_as_mcap_metadata(tmp_path):
    path = tmp_path / "marked.bin"
    markers = [Marker(START + 10**9, "drop arrived", {"electrode": 34}), Marker(START + 3 * 10**9, "done")]
    with ClassicWriter(path, markers=markers, metadata={"board": "misl_v6"}) as w:
        for i in range(5):
            stamp = pb.Timestamp(seconds=START // 10**9 + i)
            w.write(pb.PurpleDropEvent(hv_regulator=pb.HvRegulator(voltage=1.0, timestamp=stamp)).SerializeToString())
    out = tmp_path / "marked.mcap"
    export_log(path, out)
    with open(out, "rb") as f:
        records = list(mcap_reader.make_reader(f).iter_metadata())
    names = [r.name for r in records]
    assert names.count("marker") == 2 and "pdlogkit" in names
    marker = next(r for r in records if r.name == "marker")
    assert marker.metadata == {"time_ns": str(START + 10**9), "text": "drop arrived", "fields": '{"electrode": 34}'}
    with open_log(out) as log:
        assert log.markers() == markers
        assert log.metadata["board"] == "misl_v6"


def test_an_mcap_export_of_some_kinds_in_a_window(synth_log, tmp_path):
    out = tmp_path / "part.mcap"
    report = export_log(synth_log, out, kinds=["scan_capacitance", "image"], start=2, end=4)
    with open_log(synth_log) as log:
        expected = [e.payload for e in log.events(["scan_capacitance", "image"], start=2, end=4)]
    with open(out, "rb") as f:
        got = sorted(
            (m for _, c, m in mcap_reader.make_reader(f).iter_messages() if c.topic.startswith("/purpledrop/")),
            key=lambda m: m.sequence,
        )
    assert [m.data for m in got] == expected
    assert report.events == len(expected)
    assert report.tables["/camera/image"] == sum(1 for p in expected if p[0] == (3 << 3 | 2))
