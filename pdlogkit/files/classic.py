"""Reading and writing classic logs on files, pipes and streams.

One framing loop (`formats.classic.RecordFramer`) drives both readers: over a
memory map for local files, and inside `RecordParser` for pipes and any other
source read block by block.
"""

from __future__ import annotations

import io
import mmap
import os
import stat
import warnings
from collections.abc import Iterator
from typing import Any, BinaryIO

from ..errors import LogFormatError, OutputError, TruncatedLogWarning
from ..events import Event, kind_of
from ..formats.classic import HEADER, HEADER_SIZE, MAX_RECORD_SIZE, RecordFramer, RecordParser
from ..formats.common import Damage, DamageKind, Truncation
from ..markers import Marker
from . import metafile
from .output import LogFileWriter, Output, output_for
from .sources import FileSource, Source

ClassicSource = str | os.PathLike[str] | BinaryIO | Source

_BLOCK = 1 << 20
# Pages already read are dropped from the process's resident set every so often,
# so reading a log of any size keeps memory flat (the page cache keeps them).
_RELEASE_EVERY = 32 << 20
_CAN_RELEASE = hasattr(mmap, "MADV_DONTNEED")  # not on Windows


class ClassicReader:
    """Iterates the events of a classic log: a path, a `Source`, a binary file, or a pipe.

    A local file is memory-mapped and read with no intermediate buffer; anything
    else is read in blocks through `RecordParser`. Either way memory stays flat.
    Where the log ends early (a cut last record, zero padding) iteration ends
    cleanly: `truncation` says where, reported once as a `TruncatedLogWarning`.
    A corrupt length prefix raises `LogFormatError`, or with `lenient` ends the
    iteration and is kept in `damage`.
    """

    def __init__(
        self,
        source: ClassicSource,
        *,
        offset: int = 0,
        kinds: frozenset[str] | None = None,
        max_record_size: int = MAX_RECORD_SIZE,
        warn: bool = True,
        lenient: bool = False,
    ) -> None:
        self._source = source
        self._start = offset
        self._kinds = kinds
        self._max = max_record_size
        self._warn = warn
        self._lenient = lenient
        self.path: str | None = _name_of(source)
        self.truncation: Truncation | None = None
        #: With `lenient`: the corrupt record the read stopped at.
        self.damage: Damage | None = None
        #: Offset just past the last complete record read so far.
        self.end_offset = offset

    def __iter__(self) -> Iterator[Event]:
        source = self._source
        try:
            if isinstance(source, (str, os.PathLike)):
                file_source = FileSource(source)
                try:
                    yield from self._read_mapped(file_source.fd, file_source.size)
                finally:
                    file_source.close()
            elif isinstance(source, FileSource):
                yield from self._read_mapped(source.fd, source.size)
            elif hasattr(source, "pread"):  # a remote file, say: read from the offset, never through to it
                yield from self._read_stream(_SourceStream(source, self._start), skip=False)  # type: ignore[arg-type]
            else:
                fd = _regular_fd(source)  # type: ignore[arg-type]
                if fd is not None:
                    yield from self._read_mapped(fd, os.fstat(fd).st_size)
                else:
                    yield from self._read_stream(source)  # type: ignore[arg-type]
        except LogFormatError as exc:
            if not self._lenient:
                raise
            self.damage = Damage(exc.offset or 0, DamageKind.CORRUPT_RECORD, exc.reason)
        if self.truncation is not None and self._warn:
            warnings.warn(f"{self.path or 'log'}: {self.truncation}", TruncatedLogWarning, stacklevel=2)

    def _read_mapped(self, fd: int, size: int) -> Iterator[Event]:
        if size <= self._start:
            return
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mm:
            size = min(size, len(mm))
            framer = RecordFramer(max_record_size=self._max, path=self.path)
            kinds = self._kinds
            path = self.path
            released = 0
            release_at = _RELEASE_EVERY
            try:
                for start, stop in framer.spans(mm, self._start, size, at_end=True):
                    if kinds is None or kind_of(mm[start : start + 1]) in kinds:
                        yield Event(mm[start:stop], start - HEADER_SIZE, path=path)
                    self.end_offset = stop
                    if stop >= release_at and _CAN_RELEASE:
                        keep = stop - stop % mmap.PAGESIZE
                        mm.madvise(mmap.MADV_DONTNEED, released, keep - released)
                        released = keep
                        release_at = stop + _RELEASE_EVERY
            finally:
                self.truncation = framer.cut

    def _read_stream(self, f: BinaryIO, *, skip: bool = True) -> Iterator[Event]:
        if self._start and skip:
            _skip_stream(f, self._start, self.path)
        parser = RecordParser(offset=self._start, max_record_size=self._max, path=self.path)
        kinds = self._kinds
        path = self.path
        read = getattr(f, "read1", f.read)
        while not parser.done:
            block = read(_BLOCK)
            if block:
                parser.receive_data(block)
            else:
                parser.receive_eof()
            for offset, payload in parser.records_received():
                if kinds is None or kind_of(payload) in kinds:
                    yield Event(payload, offset, path=path)
                self.end_offset = offset + HEADER_SIZE + len(payload)
        self.truncation = parser.truncation


class _SourceStream(io.RawIOBase):
    """A `Source` read front to back as a stream (for sources that cannot be memory-mapped)."""

    def __init__(self, source: Source, offset: int = 0) -> None:
        self._source = source
        self._pos = offset

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self._source.size - self._pos if n < 0 else n
        data = self._source.pread(n, self._pos)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _regular_fd(f: BinaryIO) -> int | None:
    """The file descriptor of a binary file object on a regular file (read from its start), else None."""
    try:
        fd = f.fileno()
        if stat.S_ISREG(os.fstat(fd).st_mode) and f.tell() == 0:
            return fd
    except (OSError, AttributeError, io.UnsupportedOperation, ValueError):
        pass
    return None


def _skip_stream(f: BinaryIO, count: int, path: str | None) -> None:
    while count:
        chunk = f.read(min(count, _BLOCK))
        if not chunk:
            raise LogFormatError("stream ends before the requested start offset", path=path, offset=count)
        count -= len(chunk)


def _name_of(source: Any) -> str | None:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else None


#: The writer hands its buffer to the operating system once this much is buffered.
_WRITE_BUFFER = 1 << 20


class ClassicWriter(LogFileWriter):
    """Writes a classic log: byte-identical to what the original `pdrecord` writes.

    `target` is a path (written in place, replacing a file there: the recorder's
    way), an `Output` (see `files.output`: `open_writer` passes an atomic one), or
    a binary file object. Records are buffered and handed to the operating system
    by `flush()` (or every megabyte); `sync()` also asks for them to be put on
    disk. `events_in_file` counts the records that reached the file whole, also
    after a failed write. Markers and a record of losses, which the format cannot
    hold, go to a metadata sidecar beside the log (see `files.metafile`).
    """

    format = "classic"

    def __init__(
        self,
        target: str | os.PathLike[str] | BinaryIO | Output,
        *,
        metadata: dict[str, Any] | None = None,
        markers: list[Marker] | None = None,
    ) -> None:
        self._out = output_for(target, overwrite=True, atomic=False)
        super().__init__()
        self.metadata = dict(metadata or {})
        self.markers = list(markers or [])
        self._buf = bytearray()
        self._ends: list[int] = []  # end of each buffered record in _buf
        self._kinds: list[str] = []

    def write(self, payload: bytes, received_ns: int | None = None) -> None:
        """Append one event; `received_ns` is accepted for symmetry and not stored (the format has no place for it)."""
        if self.closed:
            raise ValueError("write to a closed log writer")
        self._check_failed()
        buf = self._buf
        buf += HEADER.pack(len(payload))
        buf += payload
        self._ends.append(len(buf))
        self._kinds.append(kind_of(payload))
        self.bytes_written += HEADER_SIZE + len(payload)
        self.events_written += 1
        if len(buf) >= _WRITE_BUFFER:
            self._drain()

    def add_marker(self, marker: Marker) -> None:
        """Keep a marker (a time, a text, fields) for the metadata sidecar written at `close()`."""
        self.markers.append(marker)

    def update_metadata(self, update: dict[str, Any]) -> None:
        """Change the metadata (None removes a key); it goes into the sidecar, written only when there are markers."""
        for key, value in update.items():
            if value is None:
                self.metadata.pop(key, None)
            else:
                self.metadata[key] = value

    def _drain(self) -> None:
        if not self._buf:
            return
        self._check_failed()
        try:
            self._out.write(self._buf)
        except OutputError as exc:
            self._failed = exc
            self._count_in_file(getattr(exc, "written", 0))
            raise
        self._count_in_file(len(self._buf))

    def _count_in_file(self, written: int) -> None:
        """Account the records among the first `written` buffered bytes as in the file; drop the buffer."""
        whole = 0
        for end in self._ends:
            if end > written:
                break
            whole += 1
        counts = self.counts_in_file
        for kind in self._kinds[:whole]:
            counts[kind] = counts.get(kind, 0) + 1
        self.events_in_file += whole
        self.bytes_in_file += self._ends[whole - 1] if whole else 0
        self._buf = bytearray()
        self._ends = []
        self._kinds = []

    def flush(self) -> None:
        """Hand everything written so far to the operating system."""
        self._drain()
        self._out.flush()

    def sync(self) -> None:
        """Flush and ask the operating system to put the file on disk."""
        self.flush()
        self._out.sync()

    def close(self) -> None:
        """Write what is buffered, sync and finish the file (an atomic output appears at its path only now).

        After a failed write it only closes: what reached the file stays (a file
        written in place), or nothing is left (an atomic output).
        """
        if self.closed:
            return
        self.closed = True
        if self._failed is not None:
            self._out.abort()
            return
        try:
            self.sync()
            self._out.commit()
        except BaseException:
            self._out.abort()
            raise
        if self._out.is_file:  # after the commit: it describes the new file (a stream or device has no beside)
            metafile.update_metafile(self._out.path, self.metadata, self.markers)


__all__ = ["ClassicReader", "ClassicWriter"]
