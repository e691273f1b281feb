"""The one error hierarchy of pdlogkit: catch `PdlogkitError` to catch them all.

PdlogkitError
├── LogReadError            a log could not be read (exit code 3)
│   ├── LogFormatError      its bytes are not what its format says (path, byte offset)
│   └── RemoteLogError      a remote log (a URL) could not be read: not found, timed out, changed, ...
├── OutputError             an output could not be written (also an OSError; exit code 1)
│   └── OutputExistsError   the output exists and overwriting was not asked for
├── WindowError             a time window holds none of the log (exit code 1)
├── MissingDependencyError  an optional dependency is missing (also an ImportError; names the extra)
├── RecorderError           the recorder cannot do what was asked
│   ├── RecorderStateError, GatewayUnreachable (exit code 4), RecordingFailed
├── BoardError              a board definition could not be found or read
├── ReplayError, VideoError, PlotError
"""

from __future__ import annotations

import os
from errno import EEXIST


class PdlogkitError(Exception):
    """Base class of every error pdlogkit raises on purpose."""


def _where(path: str | None, offset: int | None) -> str:
    parts = []
    if path is not None:
        parts.append(path)
    if offset is not None:
        parts.append(f"byte {offset}")
    return ": ".join(parts)


class LogReadError(PdlogkitError):
    """A log could not be read (unreadable, not a log, a remote read that failed); names where."""

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None, offset: int | None = None) -> None:
        self.reason = message
        self.path = os.fspath(path) if path is not None else None
        self.offset = offset
        where = _where(self.path, offset)
        super().__init__(f"{where}: {message}" if where else message)


class LogFormatError(LogReadError):
    """A log file's bytes are not what its format says; names the file and byte offset.

    Not a `ValueError`: a corrupt file is not a bad argument.
    """


class RemoteLogError(LogReadError):
    """A log at a URL could not be read: not found, access denied, timed out, the file changed underneath,
    a server that ignores Range requests, or the `remote` extra is missing. `path` is the URL."""


class OutputError(PdlogkitError, OSError):
    """An output file could not be written (disk full, permission denied, ...); names the file.

    Also an `OSError` (with `errno`, `strerror` and `filename`), so code that catches
    those keeps working. Nothing is left at the output path when a write fails.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, errno: int | None = None) -> None:
        self.path = os.fspath(path)
        OSError.__init__(self, errno, reason, self.path)
        self.reason = reason

    def __str__(self) -> str:
        return f"cannot write {self.path}: {self.reason}"


class OutputExistsError(OutputError):
    """The output file exists and replacing it was not asked for (`overwrite=True`, `--force`)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path, "the file exists; use --force (overwrite=True) to replace it", EEXIST)


class WindowError(PdlogkitError):
    """A time window that holds none of the log (it starts past the log's end, or ends before its start)."""


class MissingDependencyError(PdlogkitError, ImportError):
    """A feature needs an optional dependency that is not installed; the message names the pip extra."""


class TruncatedLogWarning(UserWarning):
    """A log ends inside a record or chunk (a killed recorder), or in zero padding. Complete records read fine."""


class FullScanWarning(UserWarning):
    """A remote log is read front to back for what an index would answer (a classic log without its sidecar)."""


class RecorderError(PdlogkitError):
    """The recorder cannot do what was asked."""


class RecorderStateError(RecorderError):
    """A call that does not fit the recorder's state (start while recording, stop while idle)."""


class GatewayUnreachable(RecorderError):
    """The gateway's event stream could not be reached."""


class RecordingFailed(RecorderError):
    """The background recording hit an error (disk full, permission denied, ...).

    Everything written before the error is intact and flushed; `summary` describes
    what is in the file.
    """

    def __init__(self, message: str, summary: object | None = None) -> None:
        super().__init__(message)
        self.summary = summary


class ReplayError(PdlogkitError):
    """The replay server cannot do what was asked."""


class VideoError(PdlogkitError):
    """A video cannot be written from this log."""


class PlotError(PdlogkitError):
    """A figure cannot be drawn from this log (nothing to plot in the window)."""


class BoardError(PdlogkitError):
    """A board definition cannot be found or is not a valid one; names what was tried or the file."""
