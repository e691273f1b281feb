"""pdlogkit: record, store, inspect, replay and turn into video a PurpleDrop gateway's event stream."""

from .errors import (
    GatewayUnreachable,
    LogFormatError,
    PdlogkitError,
    RecorderError,
    RecorderStateError,
    RecordingFailed,
    TruncatedLogWarning,
)
from .events import KINDS, Event
from .log import Log, LogSummary, open_log, open_writer

__version__ = "0.1.0"

__all__ = [
    "KINDS",
    "Event",
    "GatewayUnreachable",
    "Log",
    "LogFormatError",
    "LogSummary",
    "PdlogkitError",
    "RecorderError",
    "RecorderStateError",
    "RecordingFailed",
    "TruncatedLogWarning",
    "__version__",
    "open_log",
    "open_writer",
]
