"""pdlogkit: record, store, inspect, replay and turn into video a PurpleDrop gateway's event stream."""

from ._version import __version__
from .errors import (
    BoardError,
    FullScanWarning,
    GatewayUnreachable,
    LogFormatError,
    LogReadError,
    MissingDependencyError,
    OutputError,
    OutputExistsError,
    PdlogkitError,
    PlotError,
    RecorderError,
    RecorderStateError,
    RecordingFailed,
    RemoteLogError,
    ReplayError,
    TruncatedLogWarning,
    VideoError,
    WindowError,
)
from .events import KINDS, Event
from .files.logs import ClassicLog, IndexedLog, StreamLog
from .formats.common import CutKind, Damage, DamageKind, Truncation
from .log import Log, LogSummary, open_log, open_writer
from .markers import Marker
from .ops import convert, find_activity, index_log, merge_logs, recover_log, slice_log, trim_log, verify_log
from .record import AsyncEventRecorder, EventRecorder, SegmentSummary
from .reports import ActivityReport, RecoverReport, RecoverStatus, TrimReport, VerifyReport, WriteReport
from .video import VideoSummary, write_video

__all__ = [
    "KINDS",
    "ActivityReport",
    "AsyncEventRecorder",
    "BoardError",
    "ClassicLog",
    "CutKind",
    "Damage",
    "DamageKind",
    "Event",
    "EventRecorder",
    "FullScanWarning",
    "GatewayUnreachable",
    "IndexedLog",
    "Log",
    "LogFormatError",
    "LogReadError",
    "LogSummary",
    "Marker",
    "MissingDependencyError",
    "OutputError",
    "OutputExistsError",
    "PdlogkitError",
    "PlotError",
    "RecorderError",
    "RecorderStateError",
    "RecordingFailed",
    "RecoverReport",
    "RecoverStatus",
    "RemoteLogError",
    "ReplayError",
    "SegmentSummary",
    "StreamLog",
    "TrimReport",
    "TruncatedLogWarning",
    "Truncation",
    "VerifyReport",
    "VideoError",
    "VideoSummary",
    "WindowError",
    "WriteReport",
    "__version__",
    "convert",
    "find_activity",
    "index_log",
    "merge_logs",
    "open_log",
    "open_writer",
    "recover_log",
    "slice_log",
    "trim_log",
    "verify_log",
    "write_video",
]
