"""Reading and writing classic logs on files, pipes and streams."""

from __future__ import annotations

import contextlib
import io
import mmap
import os
import stat
import warnings
from collections.abc import Iterator
from typing import BinaryIO

from ..errors import LogFormatError, TruncatedLogWarning
from ..events import Event, kind_of
from ..formats.classic import HEADER, HEADER_SIZE, MAX_RECORD_SIZE, RecordParser, Truncation, classify_cut

Source = str | os.PathLike[str] | BinaryIO

_BLOCK = 1 << 20
# Pages already read are dropped from the process's resident set every so often,
# so reading a log of any size keeps memory flat (the page cache keeps them).
_RELEASE_EVERY = 32 << 20
_CAN_RELEASE = hasattr(mmap, "MADV_DONTNEED")  # not on Windows


class ClassicReader:
    """Iterates the events of a classic log: a path, a binary file, or a pipe.

    A regular file is memory-mapped and read with no intermediate buffer; a pipe
    or other stream is read in blocks through `RecordParser`. Either way memory
    stays flat. A truncated last record ends iteration cleanly: it is kept in
    `truncation` and reported once as a `TruncatedLogWarning`.
    """

    def __init__(
        self,
        source: Source,
        *,
        offset: int = 0,
        kinds: frozenset[str] | None = None,
        max_record_size: int = MAX_RECORD_SIZE,
        warn: bool = True,
    ) -> None:
        self._source = source
        self._start = offset
        self._kinds = kinds
        self._max = max_record_size
        self._warn = warn
        self.path: str | None = _name_of(source)
        self.truncation: Truncation | None = None
        #: Offset just past the last complete record read so far.
        self.end_offset = offset

    def __iter__(self) -> Iterator[Event]:
        source = self._source
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as f:
                yield from self._read(f)
        else:
            yield from self._read(source)

    def _read(self, f: BinaryIO) -> Iterator[Event]:
        try:
            fd = f.fileno()
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
        except (OSError, AttributeError, io.UnsupportedOperation):
            regular = False
        if regular:
            yield from self._read_mapped(fd)
        else:
            yield from self._read_stream(f)
        if self.truncation is not None and self._warn:
            warnings.warn(f"{self.path or 'log'}: {self.truncation}", TruncatedLogWarning, stacklevel=3)

    def _read_mapped(self, fd: int) -> Iterator[Event]:
        size = os.fstat(fd).st_size
        if size <= self._start:
            return
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mm:
            unpack = HEADER.unpack_from
            kinds = self._kinds
            path = self.path
            pos = self._start
            released = 0
            release_at = _RELEASE_EVERY
            limit = size - HEADER_SIZE
            max_record = self._max
            while pos <= limit:
                (length,) = unpack(mm, pos)
                stop = pos + HEADER_SIZE + length
                if stop > size or length > max_record:
                    first = mm[pos + HEADER_SIZE : pos + HEADER_SIZE + 1]
                    self.truncation = classify_cut(
                        pos, length, size - pos, first, max_record_size=max_record, path=path
                    )
                    return
                if kinds is None or kind_of(mm[pos + HEADER_SIZE : pos + HEADER_SIZE + 1]) in kinds:
                    yield Event(mm[pos + HEADER_SIZE : stop], pos, path=path)
                pos = stop
                self.end_offset = pos
                if pos >= release_at and _CAN_RELEASE:
                    keep = pos - pos % mmap.PAGESIZE
                    mm.madvise(mmap.MADV_DONTNEED, released, keep - released)
                    released = keep
                    release_at = pos + _RELEASE_EVERY
            if pos < size:
                self.truncation = classify_cut(pos, None, size - pos, max_record_size=max_record, path=path)

    def _read_stream(self, f: BinaryIO) -> Iterator[Event]:
        if self._start:
            _skip_stream(f, self._start, self.path)
        parser = RecordParser(offset=self._start, max_record_size=self._max, path=self.path)
        kinds = self._kinds
        path = self.path
        read = getattr(f, "read1", f.read)
        while True:
            block = read(_BLOCK)
            if not block:
                break
            for offset, payload in parser.feed(block):
                if kinds is None or kind_of(payload) in kinds:
                    yield Event(payload, offset, path=path)
                self.end_offset = offset + HEADER_SIZE + len(payload)
        self.truncation = parser.finish()


def _skip_stream(f: BinaryIO, count: int, path: str | None) -> None:
    while count:
        chunk = f.read(min(count, _BLOCK))
        if not chunk:
            raise LogFormatError("stream ends before the requested start offset", path=path, offset=count)
        count -= len(chunk)


def _name_of(source: Source) -> str | None:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else None


class ClassicWriter:
    """Writes a classic log: byte-identical to what the original `pdrecord` writes.

    `flush()` hands buffered records to the operating system; `sync()` also asks
    it to put them on disk. A record is written whole or, if the process dies
    mid-write, leaves a truncated tail that readers skip.
    """

    format = "classic"

    def __init__(self, target: str | os.PathLike[str] | BinaryIO, *, append: bool = False) -> None:
        if isinstance(target, (str, os.PathLike)):
            self.path: str | None = os.fspath(target)
            self._file: BinaryIO = open(target, "ab" if append else "wb")  # noqa: SIM115
            self._owned = True
        else:
            self.path = _name_of(target)
            self._file = target
            self._owned = False
        self.bytes_written = 0
        self.events_written = 0
        self.closed = False

    def write(self, payload: bytes, received_ns: int | None = None) -> None:
        """Append one event; `received_ns` is accepted for symmetry and not stored (the format has no place for it)."""
        self._file.write(HEADER.pack(len(payload)))
        self._file.write(payload)
        self.bytes_written += HEADER_SIZE + len(payload)
        self.events_written += 1

    def flush(self) -> None:
        """Hand everything written so far to the operating system."""
        self._file.flush()

    def sync(self) -> None:
        """Flush and ask the operating system to put the file on disk."""
        self._file.flush()
        with contextlib.suppress(OSError, AttributeError, io.UnsupportedOperation):
            os.fsync(self._file.fileno())  # a pipe or an in-memory file has nothing to sync

    def close(self) -> None:
        """Sync and close (a file object passed in is synced, not closed)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.sync()
        finally:
            if self._owned:
                self._file.close()

    def __enter__(self) -> ClassicWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
