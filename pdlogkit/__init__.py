"""pdlogkit: record, store, inspect, replay and turn into video a PurpleDrop gateway's event stream."""

from ._version import __version__
from .errors import (
    GatewayUnreachable,
    LogFormatError,
    PdlogkitError,
    RecorderError,
    RecorderStateError,
    RecordingFailed,
    TruncatedLogWarning,
    VideoError,
)
from .events import KINDS, Event
from .log import ClassicLog, IndexedLog, Log, LogSummary, open_log, open_writer
from .record import AsyncEventRecorder, EventRecorder, SegmentSummary
from .video import VideoSummary, write_video

__all__ = [
    "KINDS",
    "AsyncEventRecorder",
    "ClassicLog",
    "Event",
    "EventRecorder",
    "GatewayUnreachable",
    "IndexedLog",
    "Log",
    "LogFormatError",
    "LogSummary",
    "PdlogkitError",
    "RecorderError",
    "RecorderStateError",
    "RecordingFailed",
    "SegmentSummary",
    "TruncatedLogWarning",
    "VideoError",
    "VideoSummary",
    "__version__",
    "open_log",
    "open_writer",
    "write_video",
]
