"""Random-access byte sources: what the seekable readers read from (a local file, bytes, a file object).

Every reader of a seekable log reads through `Source.pread`, so one reader serves
local files, in-memory data and any seekable file object; `remote.py` adds URLs.
Errors name the source.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import threading
from collections.abc import Callable
from typing import BinaryIO, Protocol

from ..errors import LogReadError
from ..formats.common import zero_prefix

#: Bytes read at a time when a zero run is measured by reading.
_ZERO_BLOCK = 1 << 20


class Source(Protocol):
    """Bytes that can be read at any offset."""

    #: A name for messages: the path or URL.
    name: str
    #: The size in bytes.
    size: int
    #: Whether each read costs a round trip (a remote file): readers then read neighbouring pieces at once.
    round_trips: bool

    def pread(self, n: int, offset: int) -> bytes:
        """Up to `n` bytes at `offset` (fewer only at the end)."""
        ...

    def zero_run_end(self, offset: int) -> int:
        """The offset of the first non-zero byte at or after `offset` (the size if there is none)."""
        ...

    def reopen(self) -> Source:
        """An independent source on the same bytes (for another reader)."""
        ...

    def sibling(self, suffix: str) -> bytes | None:
        """The bytes of the small file beside this one named with `suffix` appended (a sidecar), or None."""
        ...

    def prefetch(self, reads: list[tuple[int, int]]) -> None:
        """A hint: these reads, (offset, bytes), come soon, in this order (a remote source starts them)."""
        ...

    def close(self) -> None:
        """Release what the source holds open."""
        ...


def zero_run_end_by_reading(source: Source, offset: int, next_data: Callable[[int], int] | None = None) -> int:
    """Where the run of zero bytes from `offset` ends (the size if it runs to the end); `next_data(pos)`,
    where given, skips what the file system knows holds no data."""
    pos = offset
    while pos < source.size:
        if next_data is not None:
            pos = next_data(pos)
        block = source.pread(_ZERO_BLOCK, pos)
        if not block:
            break
        zeros = zero_prefix(block)
        pos += zeros
        if zeros < len(block):
            return pos
    return source.size


class FileSource:
    """A local regular file, read with `os.pread` (thread-safe, no shared file position)."""

    round_trips = False

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.name = os.fspath(path)
        self.fd = os.open(self.name, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            st = os.fstat(self.fd)
            if not stat.S_ISREG(st.st_mode):
                raise LogReadError("not a regular file", path=self.name)
        except BaseException:
            os.close(self.fd)
            raise
        self.size = st.st_size

    def pread(self, n: int, offset: int) -> bytes:
        if n <= 0 or offset < 0:
            return b""
        return os.pread(self.fd, n, offset)

    def zero_run_end(self, offset: int) -> int:
        # Holes (and, on ext4 and XFS, unwritten extents: what a power loss leaves) are skipped without reading.
        return zero_run_end_by_reading(self, offset, self._next_data)

    def _next_data(self, offset: int) -> int:
        if not hasattr(os, "SEEK_DATA"):
            return offset
        try:
            return max(offset, os.lseek(self.fd, offset, os.SEEK_DATA))
        except OSError as exc:
            return self.size if exc.errno == errno.ENXIO else offset  # ENXIO: a hole to the end

    def prefetch(self, reads: list[tuple[int, int]]) -> None:
        pass

    def reopen(self) -> FileSource:
        return FileSource(self.name)

    def sibling(self, suffix: str) -> bytes | None:
        try:
            with open(self.name + suffix, "rb") as f:
                return f.read()
        except OSError:
            return None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class BufferSource:
    """Bytes in memory (or a memory map)."""

    round_trips = False

    def __init__(self, data: bytes | bytearray | memoryview, name: str = "<bytes>") -> None:
        self._data = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        self.name = name
        self.size = len(self._data)

    def pread(self, n: int, offset: int) -> bytes:
        if n <= 0 or offset < 0:
            return b""
        return bytes(self._data[offset : offset + n])

    def zero_run_end(self, offset: int) -> int:
        return zero_run_end_by_reading(self, offset)

    def prefetch(self, reads: list[tuple[int, int]]) -> None:
        pass

    def reopen(self) -> BufferSource:
        return BufferSource(self._data, self.name)

    def sibling(self, suffix: str) -> bytes | None:
        return None

    def close(self) -> None:
        pass


class FileObjectSource:
    """Any seekable binary file object (`io.BytesIO`, an fsspec remote file, ...), read under a lock."""

    round_trips = True  # it may be a remote file

    def __init__(self, f: BinaryIO, name: str | None = None, *, reopen: object = None) -> None:
        self._f = f
        self.name = name or str(getattr(f, "name", None) or getattr(f, "path", None) or "<stream>")
        self._lock = threading.Lock()
        self._reopen = reopen
        try:
            self.size = f.seek(0, io.SEEK_END)
        except (OSError, ValueError) as exc:
            raise LogReadError(f"cannot find the size ({exc})", path=self.name) from None

    def pread(self, n: int, offset: int) -> bytes:
        if n <= 0 or offset < 0:
            return b""
        with self._lock:
            self._f.seek(offset)
            parts = []
            while n > 0:
                block = self._f.read(n)
                if not block:
                    break
                parts.append(block)
                n -= len(block)
        return b"".join(parts)

    def zero_run_end(self, offset: int) -> int:
        return zero_run_end_by_reading(self, offset)

    def prefetch(self, reads: list[tuple[int, int]]) -> None:
        pass

    def reopen(self) -> Source:
        if callable(self._reopen):
            return self._reopen()  # type: ignore[no-any-return]
        return self  # the caller's file object: shared under the lock

    def sibling(self, suffix: str) -> bytes | None:
        return None

    def close(self) -> None:
        pass  # the caller's file object is the caller's to close


__all__ = ["BufferSource", "FileObjectSource", "FileSource", "Source"]
