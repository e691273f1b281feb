"""Reading an MCAP file that carries PurpleDropEvent channels as a `Log` (pdlogkit's own exports, or other tools').

A channel whose schema is `protobuf.PurpleDropEvent` (protobuf encoding) holds
events; every other channel (`/camera/image`, a robot's topics) is ignored.
With a summary, a kind filter or a time window reads only the chunks holding
them; without one (a file cut short, a writer that wrote none) the file is read
front to back. A file pdlogkit wrote says so in its `pdlogkit` metadata record,
and its events come back in the log's exact order (by sequence number, merged
across its sensor and camera chunks); other files are read in file order.
"""

from __future__ import annotations

import heapq
import json
import os
import warnings
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import LogFormatError, TruncatedLogWarning
from ..events import KINDS, Event, check_kinds
from ..formats import mcap as fmt
from ..formats.common import CutKind, Damage, DamageKind, Truncation
from ..log import Log, Progress, TimeBound
from ..markers import Marker
from ..reports import VerifyReport
from ..summary import LogSummary, SummaryBuilder
from .sources import FileSource, Source
from .verify import check_events

EVENT_SCHEMA = "protobuf.PurpleDropEvent"
TOPIC_PREFIX = "/purpledrop/"
#: Metadata records pdlogkit writes: how the file was made (and the log's metadata), and one per marker.
PDLOGKIT_METADATA = "pdlogkit"
MARKER_METADATA = "marker"

#: A message as read from a chunk: (sequence, log time, channel id, data, chunk offset).
_Message = tuple[int, int, int, memoryview, int]


class McapLog(Log):
    """An MCAP file holding PurpleDropEvent channels, read as a log (its log times are the receive times)."""

    format = "mcap"

    def __init__(self, source: str | os.PathLike[str] | Source, *, lenient: bool = False) -> None:
        self.source: Source = FileSource(source) if isinstance(source, (str, os.PathLike)) else source
        self.path = self.source.name
        self.lenient = lenient
        self._problems: list[Damage] = []
        self.truncation: Truncation | None = None
        self._summary: LogSummary | None = None
        self.schemas: dict[int, fmt.Schema] = {}
        self.channels: dict[int, fmt.Channel] = {}
        #: The chunks in file order, from the summary (None: no summary, the file is read front to back).
        self.chunks: list[fmt.ChunkIndex] | None = None
        self.statistics: fmt.Statistics | None = None
        self.metadata_records: list[tuple[str, dict[str, str]]] = []
        head = self.source.pread(len(fmt.MAGIC), 0)
        if head != fmt.MAGIC:
            raise LogFormatError("not an MCAP file (its magic is missing)", path=self.path, offset=0)
        try:
            found = self._read_summary()
        except LogFormatError as exc:
            if not lenient:
                raise LogFormatError(exc.reason, path=self.path, offset=exc.offset) from None
            self._problems.append(Damage(exc.offset or 0, DamageKind.INDEX, f"{exc.reason}; read by scanning"))
            found = False
        if not found:
            self.chunks = None
            self._scan_records()
        self.metadata = self._log_metadata()

    # ---------------------------------------------------------------- the Log interface

    @property
    def has_index(self) -> bool:
        return self.chunks is not None

    @property
    def problems(self) -> list[Damage]:
        return list(self._problems)

    @property
    def size(self) -> int:
        return self.source.size

    @property
    def time_source(self) -> str:
        return str(self.metadata.get("time_source", "received"))

    def events(
        self, kinds: Iterable[str] | None = None, start: TimeBound = None, end: TimeBound = None
    ) -> Iterator[Event]:
        wanted = check_kinds(kinds)
        lo, hi = self.window_ns(start, end) if start is not None or end is not None else (None, None)
        return self._events(wanted, lo, hi)

    def timed_events(
        self, kinds: Iterable[str] | None = None, start: TimeBound = None, end: TimeBound = None
    ) -> Iterator[tuple[int | None, Event]]:
        return ((event.received_ns, event) for event in self.events(kinds, start, end))

    @property
    def start_ns(self) -> int | None:
        if self.chunks is None:
            return self.summary().start_ns
        channels = self.event_channels()
        starts = [
            c.start
            for c in self.chunks
            if not c.message_index_offsets or any(i in channels for i in c.message_index_offsets)
        ]
        return min(starts) if starts else None

    def summary(self) -> LogSummary:
        if self._summary is None:
            builder = SummaryBuilder()
            for event in self._events(None, None, None, warn=False):
                builder.add(event.kind, len(event.payload), event.received_ns)
            summary = builder.build(
                self.path,
                self.format,
                self.source.size,
                truncation=self.truncation,
                metadata=self.metadata,
                time_source=self.time_source,
                chunks=len(self.chunks or []),
            )
            summary.problems = [str(d) for d in self._problems]
            self._summary = summary
        return self._summary

    def verify(self, progress: Progress = None) -> VerifyReport:
        report = VerifyReport(self.path, self.format, chunks=len(self.chunks or []))
        lenient, self.lenient = self.lenient, True
        try:
            check_events(self._events(None, None, None, warn=False), report, progress)
        finally:
            self.lenient = lenient
        report.problems += [str(d) for d in self._problems if d.costs_events]
        if self.truncation is not None:
            report.problems.append(str(self.truncation))
        return report

    def build_index(
        self, progress: Progress = None, out: str | os.PathLike[str] | None = None, *, overwrite: bool = False
    ) -> str | None:
        if self.chunks is None:
            raise LogFormatError(
                "MCAP file has no summary: `pdlogkit convert` it to a new .mcap (or .pdlz) to make one", path=self.path
            )
        return None

    def reopen(self) -> McapLog:
        return McapLog(self.source.reopen(), lenient=self.lenient)

    def close(self) -> None:
        self.source.close()

    # ---------------------------------------------------------------- summary

    def _read_summary(self) -> bool:
        size = self.source.size
        tail_size = fmt.FOOTER_SIZE + len(fmt.MAGIC)
        if size < len(fmt.MAGIC) + tail_size:
            return False
        footer_at = size - tail_size
        tail = self.source.pread(tail_size, footer_at)
        if tail[-len(fmt.MAGIC) :] != fmt.MAGIC or tail[0] != fmt.FOOTER:
            return False
        summary_start, _, crc = fmt.read_footer(memoryview(tail)[9:29], footer_at)
        if summary_start == 0:
            return False
        if not len(fmt.MAGIC) <= summary_start <= footer_at:
            raise LogFormatError("MCAP footer points outside the file", offset=footer_at)
        summary = self.source.pread(footer_at - summary_start, summary_start)
        if crc and zlib.crc32(tail[:25], zlib.crc32(summary)) != crc:
            raise LogFormatError("MCAP summary fails its CRC check", offset=summary_start)
        chunks: list[fmt.ChunkIndex] = []
        metadata_at: list[tuple[int, int]] = []
        for opcode, offset, content in fmt.records(summary, summary_start):
            if opcode == fmt.SCHEMA:
                schema = fmt.read_schema(content, offset)
                self.schemas[schema.id] = schema
            elif opcode == fmt.CHANNEL:
                channel = fmt.read_channel(content, offset)
                self.channels[channel.id] = channel
            elif opcode == fmt.STATISTICS:
                self.statistics = fmt.read_statistics(content, offset)
            elif opcode == fmt.CHUNK_INDEX:
                chunks.append(fmt.read_chunk_index(content, offset))
            elif opcode == fmt.METADATA_INDEX:
                at, length, _ = fmt.read_metadata_index(content, offset)
                metadata_at.append((at, length))
        stats = self.statistics
        if not chunks and (stats is None or stats.message_count):
            return False  # messages outside chunks (or unknown): read front to back
        for at, length in metadata_at:
            data = self.source.pread(length, at)
            for opcode, offset, content in fmt.records(data, at):
                if opcode == fmt.METADATA:
                    self.metadata_records.append(fmt.read_metadata(content, offset))
        self.chunks = sorted(chunks, key=lambda c: c.offset)
        return True

    def _scan_records(self) -> None:
        """Without a summary: walk the records for schemas, channels and metadata (chunks are skipped by length)."""
        for opcode, offset, content in self._walk(skip_chunks=True):
            if opcode == fmt.SCHEMA:
                schema = fmt.read_schema(content, offset)
                self.schemas[schema.id] = schema
            elif opcode == fmt.CHANNEL:
                channel = fmt.read_channel(content, offset)
                self.channels[channel.id] = channel
            elif opcode == fmt.METADATA:
                self.metadata_records.append(fmt.read_metadata(content, offset))
        if self.truncation is None and not any(d.kind is DamageKind.INDEX for d in self._problems):
            self._problems.append(Damage(0, DamageKind.NO_INDEX, "MCAP file has no summary: read by scanning"))

    def _walk(self, *, skip_chunks: bool) -> Iterator[tuple[int, int, memoryview]]:
        """(opcode, offset, content) of every record of the data section, front to back; notes a cut."""
        pos = len(fmt.MAGIC)
        size = self.source.size
        while pos + 9 <= size:
            head = self.source.pread(9, pos)
            opcode, length = fmt.RECORD_HEAD.unpack(head)
            if opcode == fmt.DATA_END or opcode == fmt.FOOTER:
                return
            end = pos + 9 + length
            if end > size or length > fmt.MAX_RECORD:
                self.truncation = Truncation(pos, 9 + length, size - pos, CutKind.CHUNK)
                return
            if skip_chunks and opcode in (fmt.CHUNK, fmt.MESSAGE_INDEX, fmt.ATTACHMENT):
                yield opcode, pos, memoryview(b"")
            else:
                yield opcode, pos, memoryview(self.source.pread(length, pos + 9))
            pos = end
        if pos < size:
            self.truncation = Truncation(pos, 9, size - pos, CutKind.CHUNK)

    # ---------------------------------------------------------------- what the file says about itself

    def info(self) -> dict[str, str]:
        """The `pdlogkit` metadata record ({} for a file another tool wrote)."""
        for name, entries in self.metadata_records:
            if name == PDLOGKIT_METADATA:
                return entries
        return {}

    def _log_metadata(self) -> dict[str, Any]:
        """The log's metadata as pdlogkit wrote it, else the file's metadata records (name -> entries)."""
        info = self.info()
        if "metadata" in info:
            try:
                data = json.loads(info["metadata"])
            except ValueError:
                data = None
            if isinstance(data, dict):
                meta = dict(data)
                if "time_source" in info:
                    meta["time_source"] = info["time_source"]
                return meta
        return {name: entries for name, entries in self.metadata_records if name != MARKER_METADATA}

    def markers(self) -> list[Marker]:
        out = []
        for name, entries in self.metadata_records:
            if name != MARKER_METADATA:
                continue
            try:
                fields = json.loads(entries.get("fields", "{}"))
                out.append(
                    Marker(int(entries["time_ns"]), entries.get("text", ""), fields if isinstance(fields, dict) else {})
                )
            except (KeyError, ValueError):
                continue
        return sorted(out, key=lambda m: m.time_ns)

    def event_channels(self) -> dict[int, str | None]:
        """The channels holding events: id -> the one kind it holds (from a `/purpledrop/<kind>` topic), or None."""
        out: dict[int, str | None] = {}
        for cid, channel in self.channels.items():
            schema = self.schemas.get(channel.schema_id)
            if schema is None or schema.name != EVENT_SCHEMA or channel.message_encoding != "protobuf":
                continue
            kind = channel.topic.removeprefix(TOPIC_PREFIX) if channel.topic.startswith(TOPIC_PREFIX) else None
            out[cid] = kind if kind in KINDS else None
        return out

    @property
    def ordered(self) -> bool:
        """Whether the sequence numbers are the events' order (a file pdlogkit wrote)."""
        return self.info().get("event_order") == "sequence"

    # ---------------------------------------------------------------- events

    def _events(
        self, wanted: frozenset[str] | None, lo: int | None, hi: int | None, *, warn: bool = True
    ) -> Iterator[Event]:
        blocks = self._blocks(wanted, lo, hi)
        messages = _by_sequence(blocks) if self.ordered else (m for block, _ in blocks for m in block)
        path = self.path
        known = -1
        channels: dict[int, str | None] = {}
        for _, log_time, cid, data, offset in messages:
            if len(self.channels) != known:  # a chunk may have brought channels of its own
                known = len(self.channels)
                channels = self.event_channels()
            if cid not in channels:
                continue
            if (lo is not None and log_time < lo) or (hi is not None and log_time >= hi):
                continue
            event = Event(bytes(data), offset, log_time, path=path)
            if wanted is None or event.kind in wanted:
                yield event
        if self.truncation is not None and warn:
            warnings.warn(f"{self.path}: {self.truncation}", TruncatedLogWarning, stacklevel=2)

    def _blocks(
        self, wanted: frozenset[str] | None, lo: int | None, hi: int | None
    ) -> Iterator[tuple[list[_Message], int]]:
        """(messages, lowest sequence number among all its messages) of each chunk that may hold what is wanted."""
        if self.chunks is None:
            yield from self._scanned_blocks()
            return
        for chunk in self.chunks:
            if (lo is not None and chunk.end < lo) or (hi is not None and chunk.start >= hi):
                continue
            if chunk.message_index_offsets and not self._may_hold(chunk.message_index_offsets, wanted):
                continue
            try:
                data = self.source.pread(chunk.length, chunk.offset)
                opcode, length = fmt.RECORD_HEAD.unpack_from(data, 0) if len(data) >= 9 else (0, 0)
                if opcode != fmt.CHUNK or 9 + length > len(data):
                    raise LogFormatError("MCAP chunk index points to no chunk", offset=chunk.offset)
                yield self._chunk_messages(memoryview(data)[9 : 9 + length], chunk.offset)
            except LogFormatError as exc:
                self._damaged(exc, chunk.offset)

    def _damaged(self, exc: LogFormatError, offset: int) -> None:
        if not self.lenient:
            raise LogFormatError(
                exc.reason, path=self.path, offset=exc.offset if exc.offset is not None else offset
            ) from None
        damage = Damage(offset, DamageKind.CORRUPT_CHUNK, exc.reason)
        if damage not in self._problems:
            self._problems.append(damage)

    def _may_hold(self, channel_ids: Iterable[int], wanted: frozenset[str] | None) -> bool:
        channels = self.event_channels()
        for cid in channel_ids:
            if cid in channels and (wanted is None or channels[cid] is None or channels[cid] in wanted):
                return True
        return False

    def _chunk_messages(self, content: memoryview, offset: int) -> tuple[list[_Message], int]:
        chunk = fmt.read_chunk(content, offset)
        records = fmt.decompress(chunk, offset)
        out: list[_Message] = []
        lowest = -1
        for opcode, at, inner in fmt.records(records, offset):
            if opcode == fmt.MESSAGE:
                if len(inner) < 22:
                    raise LogFormatError("MCAP message record is shorter than its fields", offset=offset)
                cid, seq, log_time, _ = fmt.MESSAGE_FIELDS.unpack_from(inner, 0)
                out.append((seq, log_time, cid, inner[22:], offset))
                if lowest < 0 or seq < lowest:
                    lowest = seq
            elif opcode == fmt.SCHEMA:
                schema = fmt.read_schema(inner, at)
                self.schemas.setdefault(schema.id, schema)
            elif opcode == fmt.CHANNEL:
                channel = fmt.read_channel(inner, at)
                self.channels.setdefault(channel.id, channel)
        return out, lowest

    def _scanned_blocks(self) -> Iterator[tuple[list[_Message], int]]:
        for opcode, offset, content in self._walk(skip_chunks=False):
            if opcode == fmt.CHUNK:
                try:
                    yield self._chunk_messages(content, offset)
                except LogFormatError as exc:
                    self._damaged(exc, offset)
            elif opcode == fmt.MESSAGE and len(content) >= 22:
                cid, seq, log_time, _ = fmt.MESSAGE_FIELDS.unpack_from(content, 0)
                yield [(seq, log_time, cid, content[22:], offset)], seq
            elif opcode == fmt.SCHEMA:
                schema = fmt.read_schema(content, offset)
                self.schemas.setdefault(schema.id, schema)
            elif opcode == fmt.CHANNEL:
                channel = fmt.read_channel(content, offset)
                self.channels.setdefault(channel.id, channel)


def _by_sequence(blocks: Iterator[tuple[list[_Message], int]]) -> Iterator[_Message]:
    """Messages of chunks in file order, merged by sequence number.

    pdlogkit closes its sensor and camera chunks together, so the lowest sequence
    number of each chunk never decreases in file order: once a chunk starts at
    sequence s, nothing still to come is below s, and what is pending below s goes out.
    """
    pending: list[_Message] = []
    for block, lowest in blocks:
        if lowest >= 0:
            cut = 0
            while cut < len(pending) and pending[cut][0] < lowest:
                cut += 1
            yield from pending[:cut]
            pending = list(heapq.merge(pending[cut:], block, key=lambda m: m[0]))
        else:
            pending = list(heapq.merge(pending, block, key=lambda m: m[0]))
    yield from pending


__all__ = ["EVENT_SCHEMA", "McapLog"]
