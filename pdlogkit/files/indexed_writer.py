"""Writing indexed containers (`.pdlz`).

The writer keeps two open chunks, one for camera frames (stored as is) and one for
every other kind (zstd); both close together at a size or an age, on `flush()`
and on `close()`, which also writes the index and trailer (see specs/container.md,
"Writer policy"). Markers and metadata learned after the header was written ride
in the next compressed chunk's extras frame, so they reach the file as soon as the
events around them do, and are listed again in the index.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any, BinaryIO

import zstandard

from ..errors import OutputError
from ..formats import container as fmt
from ..markers import Marker
from ..summary import SummaryBuilder
from .output import LogFileWriter, Output, output_for

#: Defaults of the chunking policy (see specs/container.md, "Writer policy").
CHUNK_SIZE = 1 << 20
IMAGE_CHUNK_SIZE = 8 << 20
CHUNK_AGE_NS = 1_000_000_000
LEVEL = 3
#: The zstd levels a writer takes.
LEVELS = range(1, 20)


def check_level(level: object) -> int:
    """A valid zstd level (1-19) or ValueError."""
    if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
        raise ValueError(f"the compression level must be an integer from 1 to 19, not {level!r}")
    return level


class IndexedWriter(LogFileWriter):
    """Writes an indexed container; same interface as `ClassicWriter`.

    `target` is a path (written in place), an `Output` (`open_writer` passes an
    atomic one) or a binary file object. `write` buffers; a chunk is compressed
    and written when it reaches its size or age. `flush()` closes the open chunks
    and hands them to the OS, so a crash after it loses nothing written before it;
    `close()` also writes the index and syncs. `events_in_file` counts the events
    in chunks that reached the file whole, also after a failed write.
    """

    format = "indexed"
    _ends_at = "its last complete chunk and reads by scanning"

    def __init__(
        self,
        target: str | os.PathLike[str] | BinaryIO | Output,
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
        self._compressor = zstandard.ZstdCompressor(level=check_level(level))
        self._out = output_for(target, overwrite=True, atomic=False)
        super().__init__()
        self.metadata = header
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
        self._pending = fmt.Extras()  # not yet in a chunk
        self._extras = fmt.Extras()  # every marker and metadata update: for the index
        try:
            self._put(encoded)
            self.flush()  # the header reaches the file at once: a recorder killed early leaves a readable empty log
        except BaseException:
            self.closed = True
            self._out.abort()
            raise

    def _put(self, data: bytes) -> None:
        self._check_failed()
        try:
            self._out.write(data)
        except OutputError as exc:
            # Part of `data` may be in the file: offsets from here on are unknown, so nothing more is written.
            self._failed = exc
            raise
        self.bytes_written += len(data)

    def write(self, payload: bytes, received_ns: int | None = None) -> None:
        """Append one event received at `received_ns` (Unix ns; now if None).

        After a failed write (a full disk) every further write raises `OutputError`.
        """
        if self.closed:
            raise ValueError("write to a closed log writer")
        self._check_failed()
        t = time.time_ns() if received_ns is None else received_ns
        if not -(1 << 63) <= t < 1 << 63:
            raise ValueError(f"receive time {t} ns is outside what a container stores (64-bit nanoseconds)")
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

    def add_marker(self, marker: Marker) -> None:
        """Add a marker: it reaches the file with the next chunk (within about a second), and the index."""
        if self.closed:
            raise ValueError("add_marker on a closed log writer")
        self._pending.markers.append(marker)
        self._extras.markers.append(marker)

    def update_metadata(self, update: dict[str, Any]) -> None:
        """Change the metadata after the header was written: `update`'s keys replace the header's (None removes one).

        The update reaches the file with the next chunk, and the index.
        """
        if self.closed:
            raise ValueError("update_metadata on a closed log writer")
        fmt.encode_extras(fmt.Extras(metadata=update))  # not JSON: a ValueError here, not in a later write
        self._pending.metadata.update(update)
        self._extras.metadata.update(update)
        fmt.apply_metadata(self.metadata, update)

    def _close_chunks(self) -> None:
        # Each lane is emptied as soon as its chunk is written, so a failure in the other never writes it twice.
        # Pending extras ride in the compressed chunk; with only camera frames open, that one is compressed.
        extras = self._pending if self._pending else None
        if self._sensors:
            self._write_chunk(self._sensors, self._compressor, extras)
            self._sensors = []
            self._sensor_bytes = 0
            extras = None
        if self._images:
            self._write_chunk(self._images, self._compressor if extras else None, extras)
            self._images = []
            self._image_bytes = 0
            extras = None
        if extras is None:  # delivered (or there was nothing to deliver)
            self._pending = fmt.Extras()
        self._open_since = None

    def _write_chunk(
        self,
        records: list[tuple[int, int, bytes]],
        compressor: zstandard.ZstdCompressor | None,
        extras: fmt.Extras | None = None,
    ) -> None:
        data = fmt.encode_chunk(records, records[0][0], compressor=compressor, extras=extras)
        info = fmt.decode_chunk_header(data, self.bytes_written)
        self._put(data)  # one write: a crash leaves at most this chunk incomplete
        self._chunks.append(info)
        self.events_in_file += info.records
        self.bytes_in_file = self.bytes_written
        counts = self.counts_in_file
        for code, n in info.counts.items():
            name = fmt.KIND_NAMES[code]
            counts[name] = counts.get(name, 0) + n

    def flush(self) -> None:
        """Close the open chunks and hand everything to the operating system."""
        self._close_chunks()
        self._out.flush()

    def sync(self) -> None:
        """Flush and ask the operating system to put the file on disk."""
        self.flush()
        self._out.sync()

    def statistics(self) -> dict[str, Any]:
        """The statistics the index will hold: what `summary()` reports without a scan."""
        return self._summary.to_stats()

    def close(self) -> None:
        """Write the last chunks, the index and the trailer; sync; finish the file.

        An atomic output appears at its path only now. After a failed write it only
        closes: a file written in place then has no index and reads by scanning; an
        atomic output leaves nothing.
        """
        if self.closed:
            return
        self.closed = True
        if self._failed is not None:
            self._out.abort()
            return
        try:
            self._close_chunks()
            index_offset = self.bytes_written
            stats = {**self.statistics(), **self._extras.to_json()}
            index = fmt.encode_index(fmt.Index.from_chunks(self._chunks, stats), compressor=self._compressor)
            self._put(index)
            self._put(fmt.encode_trailer(index_offset, len(index)))
            self._out.sync()
            self._out.commit()
        except BaseException:
            self._out.abort()
            raise


__all__ = ["CHUNK_AGE_NS", "CHUNK_SIZE", "IMAGE_CHUNK_SIZE", "LEVEL", "IndexedWriter", "check_level"]
