"""A log as MCAP, for Foxglove: every event on `/purpledrop/<kind>`, camera frames also as images.

Each event is one message on the channel `/purpledrop/<kind>`, message encoding
`protobuf`, schema `protobuf.PurpleDropEvent` (a serialized FileDescriptorSet),
the payload byte for byte as stored. Log time is the log's clock, publish time
the embedded timestamp where there is one; the sequence number is the event's
position in the log, so a reader restores the log's exact order. Camera frames
are also on `/camera/image` as `foxglove.CompressedImage` (format `jpeg`), for
Foxglove's Image panel. Markers and the log's metadata become MCAP metadata.

Like the container, camera frames go into chunks of their own, so a reader
that wants only sensor data skips them. Every chunk is zstd-compressed; the
camera's at level 1: JPEG does not shrink, but each frame is in its chunk twice
(as an event and as an image) and zstd stores the second copy in a few bytes.
Both kinds of chunk close together (at 1 MiB of sensor data or 4 MiB of
frames), so reading in file order needs at most two chunks in memory. A summary (schemas, channels, statistics,
chunk and metadata indexes) makes the file open at once.
"""

from __future__ import annotations

import json
import os
import zlib
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import zstandard

from .. import __version__
from ..files.mcap import EVENT_SCHEMA, MARKER_METADATA, PDLOGKIT_METADATA, TOPIC_PREFIX
from ..files.output import Output
from ..formats import mcap as fmt
from ..log import Log, TimeBound
from . import foxglove
from .images import image_data

#: The chunks close once the sensor chunk holds this many bytes, or the camera chunk `CAMERA_CHUNK_BYTES`.
CHUNK_BYTES = 1 << 20
CAMERA_CHUNK_BYTES = 4 << 20
LEVEL = 3
CAMERA_LEVEL = 1
CAMERA_TOPIC = "/camera/image"

_MESSAGE_HEAD = fmt.MESSAGE_HEAD
_IMAGE_KIND = "image"


@dataclass
class _Lane:
    """The chunk being filled for one group of channels (sensors, or camera frames)."""

    compressor: zstandard.ZstdCompressor
    records: bytearray = field(default_factory=bytearray)
    index: dict[int, array[int]] = field(default_factory=dict)  # channel -> (log time, offset) pairs
    start: int = 0
    end: int = 0
    first_seq: int = -1


class McapWriter:
    """Writes an MCAP file to an `Output`: schemas, channels, messages in two lanes of chunks, metadata, summary."""

    def __init__(
        self,
        out: Output,
        *,
        chunk_bytes: int = CHUNK_BYTES,
        camera_chunk_bytes: int = CAMERA_CHUNK_BYTES,
        level: int = LEVEL,
        camera_level: int = CAMERA_LEVEL,
    ) -> None:
        self._out = out
        self._pos = 0
        self._limits = (chunk_bytes, camera_chunk_bytes)
        self._schemas: list[bytes] = []
        self._channels: list[bytes] = []
        self._chunk_indexes: list[bytes] = []
        self._metadata_indexes: list[bytes] = []
        self.stats = fmt.Statistics()
        self._lanes = (
            _Lane(zstandard.ZstdCompressor(level=level)),
            _Lane(zstandard.ZstdCompressor(level=camera_level)),
        )
        self._write(fmt.MAGIC + fmt.header("", f"pdlogkit {__version__}"))

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        self._out.write(data)
        self._pos += len(data)

    def add_schema(self, name: str, encoding: str, data: bytes) -> int:
        """Register a schema; return its id."""
        schema_id = len(self._schemas) + 1
        rec = fmt.schema(schema_id, name, encoding, data)
        self._schemas.append(rec)
        self._write(rec)
        self.stats.schema_count += 1
        return schema_id

    def add_channel(self, topic: str, schema_id: int, message_encoding: str, metadata: dict[str, str]) -> int:
        """Register a channel (written before any chunk holding its messages); return its id."""
        channel_id = len(self._channels) + 1
        rec = fmt.channel(channel_id, schema_id, topic, message_encoding, metadata)
        self._channels.append(rec)
        self._write(rec)
        self.stats.channel_count += 1
        self.stats.channel_message_counts[channel_id] = 0
        return channel_id

    def add_message(
        self,
        channel_id: int,
        sequence: int,
        log_time: int,
        publish_time: int,
        parts: Iterable[bytes | memoryview],
        size: int,
        *,
        camera: bool = False,
    ) -> None:
        """Add a message whose data is `parts` (`size` bytes together); `camera` puts it in the camera chunks."""
        lane = self._lanes[camera]
        buf = lane.records
        if lane.first_seq < 0:
            lane.first_seq = sequence
            lane.start = lane.end = log_time
        elif log_time < lane.start:
            lane.start = log_time
        elif log_time > lane.end:
            lane.end = log_time
        index = lane.index.get(channel_id)
        if index is None:
            index = lane.index[channel_id] = array("Q")
        index.append(log_time)
        index.append(len(buf))
        buf += _MESSAGE_HEAD.pack(fmt.MESSAGE, 22 + size, channel_id, sequence & 0xFFFFFFFF, log_time, publish_time)
        for part in parts:
            buf += part
        stats = self.stats
        if stats.message_count == 0:
            stats.message_start_time = stats.message_end_time = log_time
        elif log_time < stats.message_start_time:
            stats.message_start_time = log_time
        elif log_time > stats.message_end_time:
            stats.message_end_time = log_time
        stats.message_count += 1
        stats.channel_message_counts[channel_id] += 1
        if len(buf) >= self._limits[camera]:
            self.flush()

    def flush(self) -> None:
        """Close the chunks being filled (the lane whose messages start first goes first)."""
        for lane in sorted((lane for lane in self._lanes if lane.records), key=lambda lane: lane.first_seq):
            self._write_chunk(lane)

    def _write_chunk(self, lane: _Lane) -> None:
        raw = lane.records
        crc = zlib.crc32(raw)
        data = lane.compressor.compress(raw)
        offset = self._pos
        head = fmt.chunk_head(lane.start, lane.end, len(raw), crc, "zstd", len(data))
        self._write(head)
        self._write(data)
        length = self._pos - offset
        index_start = self._pos
        offsets = {}
        for channel_id, entries in lane.index.items():
            offsets[channel_id] = self._pos
            self._write(fmt.message_index(channel_id, entries.tobytes()))
        info = fmt.ChunkIndex(
            lane.start,
            lane.end,
            offset,
            length,
            offsets,
            self._pos - index_start,
            "zstd",
            len(data),
            len(raw),
        )
        self._chunk_indexes.append(fmt.chunk_index(info))
        self.stats.chunk_count += 1
        lane.records = bytearray()
        lane.index = {}
        lane.first_seq = -1

    def add_metadata(self, name: str, entries: dict[str, str]) -> None:
        """A metadata record (a name and string pairs), indexed in the summary."""
        self.flush()
        rec = fmt.metadata(name, entries)
        self._metadata_indexes.append(fmt.metadata_index(self._pos, len(rec), name))
        self._write(rec)
        self.stats.metadata_count += 1

    def finish(self) -> None:
        """Close the chunks, write the summary and footer. The caller commits the output."""
        self.flush()
        self._write(fmt.data_end())
        summary_start = self._pos
        groups = [
            (fmt.SCHEMA, self._schemas),
            (fmt.CHANNEL, self._channels),
            (fmt.STATISTICS, [fmt.statistics(self.stats)]),
            (fmt.CHUNK_INDEX, self._chunk_indexes),
            (fmt.METADATA_INDEX, self._metadata_indexes),
        ]
        summary = bytearray()
        offsets = bytearray()
        for opcode, recs in groups:
            if recs:
                start = summary_start + len(summary)
                for rec in recs:
                    summary += rec
                offsets += fmt.summary_offset(opcode, start, summary_start + len(summary) - start)
        offset_start = summary_start + len(summary)
        summary += offsets
        self._write(summary)
        self._write(fmt.footer(summary_start, offset_start, summary))
        self._write(fmt.MAGIC)


def write_mcap(
    log: Log,
    out: Output,
    *,
    kinds: Iterable[str] | None = None,
    start: TimeBound = None,
    end: TimeBound = None,
    progress: Callable[[int], None] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    camera_chunk_bytes: int = CAMERA_CHUNK_BYTES,
) -> dict[str, int]:
    """Write the events of `log` (of `kinds`, in the window) as MCAP to `out`; return messages per topic.

    The caller commits or aborts `out`.
    """
    from ..events import kind_of, parse_event, timestamp_ns

    writer = McapWriter(out, chunk_bytes=chunk_bytes, camera_chunk_bytes=camera_chunk_bytes)
    # First, so that a reader of a file cut short still knows how to order its events.
    info = {
        "format": "pdlogkit events",
        "event_order": "sequence",
        "time_source": log.time_source,
        "log": os.path.basename(log.path),
        "metadata": json.dumps(log.metadata, default=str),
    }
    for key in ("board", "source", "device", "recorder"):
        if key in log.metadata:
            value = log.metadata[key]
            info[key] = value if isinstance(value, str) else json.dumps(value, default=str)
    writer.add_metadata(PDLOGKIT_METADATA, info)
    for marker in log.markers():
        writer.add_metadata(
            MARKER_METADATA,
            {"time_ns": str(marker.time_ns), "text": marker.text, "fields": json.dumps(marker.fields, default=str)},
        )
    event_schema = writer.add_schema(EVENT_SCHEMA, "protobuf", foxglove.event_descriptor_set())
    image_schema = 0
    channels: dict[str, int] = {}
    camera = 0
    seq = 0
    path = log.path
    for times, payloads, offsets in log.payload_batches(kinds, start, end):
        for t, payload, offset in zip(times, payloads, offsets, strict=True):
            kind = kind_of(payload)
            channel = channels.get(kind)
            if channel is None:
                topic = TOPIC_PREFIX + kind
                channel = channels[kind] = writer.add_channel(topic, event_schema, "protobuf", {"kind": kind})
            log_time = t if t is not None and t > 0 else 0  # MCAP times are unsigned
            stamp = timestamp_ns(payload)
            publish = stamp if stamp is not None and stamp >= 0 else log_time
            is_image = kind == _IMAGE_KIND
            writer.add_message(channel, seq, log_time, publish, (payload,), len(payload), camera=is_image)
            if is_image:
                jpeg = image_data(payload)
                if jpeg is None:
                    jpeg = memoryview(parse_event(payload, offset=offset, path=path).image.image_data)
                if not camera:
                    image_schema = writer.add_schema(
                        foxglove.COMPRESSED_IMAGE, "protobuf", foxglove.compressed_image_descriptor_set()
                    )
                    camera = writer.add_channel(CAMERA_TOPIC, image_schema, "protobuf", {"frame_id": foxglove.FRAME_ID})
                head = foxglove.compressed_image_head(publish, len(jpeg))
                writer.add_message(camera, seq, log_time, publish, (head, jpeg), len(head) + len(jpeg), camera=True)
            seq += 1
        if progress is not None:
            progress(seq)
    writer.finish()
    ids = {v: k for k, v in channels.items()}
    topics = {TOPIC_PREFIX + ids[c]: n for c, n in writer.stats.channel_message_counts.items() if c in ids}
    if camera:
        topics[CAMERA_TOPIC] = writer.stats.channel_message_counts[camera]
    return topics


__all__ = ["CAMERA_TOPIC", "EVENT_SCHEMA", "McapWriter", "write_mcap"]
