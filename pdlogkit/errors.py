"""The one error hierarchy of pdlogkit: catch `PdlogkitError` to catch them all."""

from __future__ import annotations

import os


class PdlogkitError(Exception):
    """Base class of every error pdlogkit raises on purpose."""


class LogFormatError(PdlogkitError, ValueError):
    """A log file's bytes are not what its format says; names the file and byte offset."""

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None, offset: int | None = None) -> None:
        self.reason = message
        self.path = os.fspath(path) if path is not None else None
        self.offset = offset
        where = []
        if self.path is not None:
            where.append(self.path)
        if offset is not None:
            where.append(f"byte {offset}")
        super().__init__(f"{': '.join(where)}: {message}" if where else message)


class TruncatedLogWarning(UserWarning):
    """A log ends inside a record: what a killed recorder leaves. Complete records read fine."""


class RecorderError(PdlogkitError):
    """The recorder cannot do what was asked."""


class RecorderStateError(RecorderError):
    """A call that does not fit the recorder's state (start while recording, stop while idle)."""


class GatewayUnreachable(RecorderError):
    """The gateway's event stream could not be reached."""


class RecordingFailed(RecorderError):
    """The background recording hit an error (disk full, permission denied, ...).

    Everything written before the error is intact and flushed; `summary` describes it.
    """

    def __init__(self, message: str, summary: object | None = None) -> None:
        super().__init__(message)
        self.summary = summary


class ReplayError(PdlogkitError):
    """The replay server cannot do what was asked."""


class VideoError(PdlogkitError):
    """A video cannot be written from this log."""


class BoardError(PdlogkitError):
    """A board definition cannot be found or is not a valid one; names what was tried or the file."""
