"""Streams (pipes, FIFOs, sockets, stdin): opened without waiting forever, read without losing bytes or signals.

- A FIFO is opened without blocking, then given `wait` seconds for a process to
  write into it (never a hang).
- A stream's format is told from its first bytes, which are then handed back in
  front of the rest (`Prefetched`): sniffing never eats data.
- A pipe is read through its file descriptor with `poll` and a short timeout, so
  Ctrl-C or SIGTERM arriving while the writer is silent is handled within a tenth
  of a second (a plain blocking `read` would hold Python's signal handler back
  until data came, if the signal landed just before the read began).
"""

from __future__ import annotations

import io
import os
import select
import stat
from typing import Any, BinaryIO

from ..errors import LogReadError

#: Seconds between looks at pending signals while a stream is silent.
POLL_INTERVAL = 0.1


class PolledReader(io.RawIOBase):
    """A pipe, FIFO, socket or terminal read by file descriptor, waking up every `POLL_INTERVAL` seconds."""

    def __init__(self, fd: int, *, name: str = "<stream>", owned: bool = False) -> None:
        self._fd = fd
        self.name = name
        self._owned = owned
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def readinto(self, buffer: Any) -> int:
        while not self._poller.poll(POLL_INTERVAL * 1000):
            pass  # back in Python between waits: a pending signal handler runs here
        return os.readv(self._fd, [buffer])

    def close(self) -> None:
        if not self.closed and self._owned:
            os.close(self._fd)
        super().close()


def interruptible(f: BinaryIO) -> BinaryIO:
    """`f`, or for an unbuffered pipe, FIFO, socket or terminal, a reader of its descriptor that honours signals.

    A buffered file object is used as it is (bytes it may already hold would be lost).
    """
    if not isinstance(f, io.FileIO):
        return f
    try:
        fd = f.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError):
        return f
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return f
    return io.BufferedReader(PolledReader(fd, name=str(f.name)))  # type: ignore[arg-type]


def open_stream(path: str, wait: float) -> BinaryIO:
    """Open a FIFO (or other non-regular file) for reading, giving a writer `wait` seconds to start."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            poller = select.poll()
            poller.register(fd, select.POLLIN | select.POLLHUP)
            waited = 0.0
            while not poller.poll(POLL_INTERVAL * 1000):
                waited += POLL_INTERVAL
                if waited >= wait:
                    raise LogReadError(
                        f"is a FIFO and no process wrote into it within {wait:g} s (start the writer first)",
                        path=path,
                    )
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return io.BufferedReader(PolledReader(fd, name=path, owned=True))  # type: ignore[arg-type]


class Prefetched(io.RawIOBase):
    """A stream whose first bytes were read ahead to tell its format: yields them, then the rest."""

    def __init__(self, prefix: bytes, f: BinaryIO) -> None:
        self._prefix = prefix
        self._f = f

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = getattr(self._f, "read1", self._f.read)(len(buffer))  # read1: what is there, not a full buffer
        buffer[: len(data)] = data
        return len(data)


def read_up_to(f: BinaryIO, n: int) -> bytes:
    """Up to `n` bytes from `f`: fewer only at its end."""
    parts = []
    while n > 0:
        block = f.read(n)
        if not block:
            break
        parts.append(block)
        n -= len(block)
    return b"".join(parts)


__all__ = ["POLL_INTERVAL", "PolledReader", "Prefetched", "interruptible", "open_stream", "read_up_to"]
