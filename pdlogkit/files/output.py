"""Where writers write: a file that appears only when complete, a file written in place, or a stream.

Every tool that makes a log (`convert`, `slice`, `merge`, `recover`, `index`,
exports, videos) writes through `open_output(path)`: a temporary file in the
output's folder, fsynced and renamed into place by `commit()`. Until then the
output path is untouched; `abort()` (an error, Ctrl-C, SIGTERM) removes the
temporary file. An existing output is replaced only with `overwrite=True`.
The recorder writes in place instead (a crash must leave what was recorded).

Write failures raise `OutputError` naming the output file, with `written`: the
bytes of the failed call that reached the file (exact, for the recorder's counts).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable
from typing import BinaryIO, TypeVar

from ..errors import OutputError, OutputExistsError


@functools.cache
def _umask() -> int:
    """The process's umask (a new file gets the permissions a plain open() would give, not mkstemp's 0600).

    Read without changing it where the system says it (Linux), else set and restored once."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _error(path: str, exc: OSError, written: int = 0) -> OutputError:
    error = OutputError(path, exc.strerror or str(exc), exc.errno)
    error.written = written  # type: ignore[attr-defined]
    return error


class Output:
    """An output file descriptor and what finishing it means. Writers own no buffering of the OS kind."""

    #: Whether what was written stays when the output is abandoned (in place), or is removed (atomic).
    keeps_partial = True
    #: Whether the output is a file of its own (things may be written beside it), not a pipe or device.
    is_file = True

    def __init__(self, path: str, fd: int, *, owned: bool = True) -> None:
        self.path = path
        self.fd = fd
        self._owned = owned
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Write all of `data` (OutputError with `written` if the disk refuses part of it)."""
        view = memoryview(data)
        done = 0
        while done < len(view):
            try:
                done += os.write(self.fd, view[done:])
            except OSError as exc:
                raise _error(self.path, exc, done) from None

    def hand_over(self) -> str:
        """Close the file descriptor and return the path to write, for a library that writes by name.

        `commit()` and `abort()` work as before.
        """
        self._close()
        return self.path

    def flush(self) -> None:
        """Nothing is buffered here: every write reached the operating system."""

    def sync(self) -> None:
        """Ask the operating system to put the file on disk (a pipe has nothing to sync)."""
        try:
            os.fsync(self.fd)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EROFS, errno.ENOTSUP):
                raise _error(self.path, exc) from None

    def commit(self) -> None:
        """The output is complete: make it the file at its path."""
        self._close()

    def abort(self) -> None:
        """The output will not be completed (an error or interruption)."""
        with contextlib.suppress(OSError):
            self._close()

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            if self._owned:
                os.close(self.fd)


class AtomicOutput(Output):
    """A temporary file beside `path`, renamed to `path` by `commit()` and removed by `abort()`."""

    keeps_partial = False

    def __init__(self, path: str, *, overwrite: bool = False) -> None:
        folder = os.path.dirname(os.path.abspath(path))
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".part", dir=folder)
        except OSError as exc:
            raise _error(path, exc) from None
        super().__init__(path, fd)
        self.overwrite = overwrite
        self._finished = False
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o666 & ~_umask())

    def hand_over(self) -> str:
        """Close the temporary file's descriptor and return its name, for a library that writes by name.

        `commit()` and `abort()` work as before.
        """
        self._close()
        return self.tmp

    def commit(self) -> None:
        if self._finished:
            return
        try:
            if self.closed:  # handed over: written by name
                fd = os.open(self.tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            else:
                os.fsync(self.fd)
                self._close()
            if self.overwrite:
                os.replace(self.tmp, self.path)
            else:
                self._link_new()
        except OSError as exc:
            self.abort()
            if isinstance(exc, OutputError):
                raise
            raise _error(self.path, exc) from None
        self._finished = True
        _sync_folder(self.path)

    def _link_new(self) -> None:
        """Put the file at its path only if nothing is there (no race with another writer)."""
        try:
            os.link(self.tmp, self.path)
        except FileExistsError:
            raise OutputExistsError(self.path) from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            if os.path.lexists(self.path):  # a filesystem without hard links: check, then rename
                raise OutputExistsError(self.path) from None
            os.replace(self.tmp, self.path)
            return
        os.unlink(self.tmp)

    def abort(self) -> None:
        if self._finished:
            return
        self._finished = True
        super().abort()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)


def _sync_folder(path: str) -> None:
    """Make a rename durable: fsync the folder holding `path` (where the OS allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _special(path: str) -> bool:
    """Whether `path` exists and is not a regular file (a FIFO, a terminal, /dev/stdout, ...)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _open_special(path: str) -> Output:
    """Open a FIFO or device for writing without waiting forever for a reader."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OutputError(path, "no process is reading this FIFO", exc.errno) from None
        raise _error(path, exc) from None
    os.set_blocking(fd, True)
    output = Output(path, fd)
    output.is_file = False
    return output


def _check_path(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(path, f"no such folder: {folder}", errno.ENOENT)
    if os.path.isdir(path):
        raise OutputError(path, "is a folder", errno.EISDIR)


def open_output(path: str | os.PathLike[str], *, overwrite: bool = False, atomic: bool = True) -> Output:
    """Open an output file: atomic (the default) or in place (`atomic=False`, for recordings).

    An existing regular file raises `OutputExistsError` unless `overwrite`. A FIFO
    or device (and anything under /dev or /proc, such as /dev/stdout) is written
    directly, never replaced; a FIFO without a reader is an `OutputError` at once,
    never a wait. A symbolic link is followed: the file it points to is written.
    """
    path = os.fspath(path)
    if path.startswith(("/dev/", "/proc/")):  # /dev/stdout, /proc/self/fd/N: whatever they point to, written as is
        return _open_special(path)
    if os.path.islink(path):  # the link stays; the file it points to is what gets written (and replaced)
        path = os.path.realpath(path)
    _check_path(path)
    if _special(path):
        return _open_special(path)
    if os.path.lexists(path) and not overwrite:
        raise OutputExistsError(path)
    if atomic:
        return AtomicOutput(path, overwrite=overwrite)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags if overwrite else flags | os.O_EXCL, 0o666)
    except FileExistsError:
        raise OutputExistsError(path) from None
    except OSError as exc:
        raise _error(path, exc) from None
    return Output(path, fd)


def refuse_inputs(out: str | os.PathLike[str], inputs: Iterable[object], *, folder: bool = False) -> None:
    """ValueError when writing `out` would harm an input log: `out` is an input (through any link, hard or
    symbolic), or one of an input's sidecars; with `folder` (an output replaced as a whole), a folder that
    holds an input. Inputs that are not local paths (streams, URLs) are passed over."""
    from .metafile import SUFFIX as METADATA
    from .sidecar import SUFFIX as INDEX

    target = os.path.realpath(out)
    for src in inputs:
        if not isinstance(src, (str, os.PathLike)) or "://" in os.fspath(src):
            continue
        name, real = os.fspath(src), os.path.realpath(src)
        if _same(target, real):
            raise ValueError(f"output {os.fspath(out)} is the input; choose another file")
        for suffix, what in ((METADATA, "metadata"), (INDEX, "index")):
            if _same(target, real + suffix) or _same(target, os.path.realpath(name + suffix)):
                raise ValueError(
                    f"output {os.fspath(out)} is the {what} sidecar of the input {name}; choose another file"
                )
        if folder and os.path.isdir(target) and real.startswith(target.rstrip(os.sep) + os.sep):
            raise ValueError(f"output folder {os.fspath(out)} holds the input {name}; choose another folder")


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_sidecars_free(path: str | os.PathLike[str], overwrite: bool) -> None:
    """A new classic log at `path` comes with sidecars (`.pdmeta`, `.pdidx`): ones already there, from an
    earlier log, count as an existing output (`OutputExistsError` unless `overwrite`)."""
    from .metafile import metafile_path
    from .sidecar import sidecar_path

    if overwrite or os.path.lexists(path):
        return  # the log itself is checked by open_output
    for beside in (metafile_path(path), sidecar_path(path)):
        if os.path.lexists(beside):
            raise OutputExistsError(beside)


class StreamOutput(Output):
    """A binary file object the caller owns (a pipe, stdout, BytesIO): written, flushed, never closed."""

    is_file = False

    def __init__(self, f: BinaryIO) -> None:
        name = getattr(f, "name", None)
        super().__init__(name if isinstance(name, str) else "<stream>", -1, owned=False)
        self._f = f

    def write(self, data: bytes | bytearray | memoryview) -> None:
        try:
            self._f.write(data)
        except OSError as exc:
            raise _error(self.path, exc) from None

    def flush(self) -> None:
        try:
            self._f.flush()
        except OSError as exc:
            raise _error(self.path, exc) from None

    def sync(self) -> None:
        self.flush()
        with contextlib.suppress(OSError, AttributeError, ValueError):
            os.fsync(self._f.fileno())


def output_for(
    target: str | os.PathLike[str] | BinaryIO | Output, *, overwrite: bool = False, atomic: bool = True
) -> Output:
    """The `Output` for a writer's target: a path (see `open_output`), a file object, or an `Output` as is."""
    if isinstance(target, Output):
        return target
    if isinstance(target, (str, os.PathLike)):
        return open_output(target, overwrite=overwrite, atomic=atomic)
    return StreamOutput(target)


class FolderOutput:
    """A folder of files that appears at its path only when complete (an export of several tables).

    The files are written into a temporary folder beside `path` (`file(name)`),
    which `commit()` renames into place; `abort()` removes it. An existing `path`
    is replaced only with `overwrite=True` (else `OutputExistsError`).
    """

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        self.path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise OutputError(self.path, f"no such folder: {folder}", errno.ENOENT)
        if os.path.lexists(self.path) and not overwrite:
            raise OutputExistsError(self.path)
        self.overwrite = overwrite
        try:
            self.tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(self.path)}.", suffix=".part", dir=folder)
        except OSError as exc:
            raise _error(self.path, exc) from None
        self._finished = False
        with contextlib.suppress(OSError):
            os.chmod(self.tmp, 0o777 & ~_umask())  # what a plain mkdir would give

    def file(self, name: str) -> Output:
        """A new file `name` in the folder (complete once its own `commit()` is called)."""
        return open_output(os.path.join(self.tmp, name))

    def commit(self) -> None:
        """The folder is complete: put it at its path (replacing what was there only if `overwrite`)."""
        if self._finished:
            return
        _sync_folder(os.path.join(self.tmp, "."))
        old = None
        try:
            if os.path.lexists(self.path):
                if not self.overwrite:
                    raise OutputExistsError(self.path)
                old = tempfile.mkdtemp(
                    prefix=f".{os.path.basename(self.path)}.", suffix=".old", dir=os.path.dirname(self.tmp)
                )
                os.replace(self.path, os.path.join(old, "replaced"))
            os.rename(self.tmp, self.path)
        except BaseException as exc:
            self.abort()
            if old is not None and not os.path.lexists(self.path):
                os.replace(os.path.join(old, "replaced"), self.path)  # put back what was there
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            if isinstance(exc, OSError) and not isinstance(exc, OutputError):
                raise _error(self.path, exc) from None
            raise
        self._finished = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        _sync_folder(self.path)

    def abort(self) -> None:
        """The folder will not be completed: remove the temporary folder and what is in it."""
        if not self._finished:
            self._finished = True
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> FolderOutput:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


W = TypeVar("W", bound="LogFileWriter")


class LogFileWriter:
    """What the log writers share: their counters, the write failure that ends writing, and how they end.

    A subclass sets `_out` before calling `__init__`, and says in `_ends_at` where
    its file ends once a write has failed.
    """

    _out: Output
    _ends_at = "its last complete record"

    def __init__(self) -> None:
        self.path: str | None = self._out.path
        self.events_written = 0
        self.bytes_written = 0
        self.events_in_file = 0
        self.bytes_in_file = 0
        self.counts_in_file: dict[str, int] = {}
        self.closed = False
        self._failed: OutputError | None = None

    def flush(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _check_failed(self) -> None:
        if self._failed is not None:
            raise OutputError(
                self._failed.path, f"an earlier write failed ({self._failed.reason}); the file ends at {self._ends_at}"
            )

    def abort(self) -> None:
        """Give up the file: an atomic output leaves nothing; one written in place keeps what reached it whole."""
        if self.closed:
            return
        self.closed = True
        if self._out.keeps_partial and self._failed is None:
            with contextlib.suppress(OutputError):
                self.flush()
        self._out.abort()

    def __enter__(self: W) -> W:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


__all__ = [
    "AtomicOutput",
    "FolderOutput",
    "LogFileWriter",
    "Output",
    "StreamOutput",
    "check_sidecars_free",
    "open_output",
    "output_for",
    "refuse_inputs",
]
