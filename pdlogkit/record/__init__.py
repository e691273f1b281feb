"""Recording a gateway's event stream: `EventRecorder` for scripts, `AsyncEventRecorder` for asyncio."""

from .recorder import (
    DEFAULT_URI,
    MAX_MESSAGE_SIZE,
    AsyncEventRecorder,
    EventRecorder,
    RecorderStatus,
    SegmentHandle,
)
from .segments import SegmentSummary
from .session import record_session, split_path

__all__ = [
    "DEFAULT_URI",
    "MAX_MESSAGE_SIZE",
    "AsyncEventRecorder",
    "EventRecorder",
    "RecorderStatus",
    "SegmentHandle",
    "SegmentSummary",
    "record_session",
    "split_path",
]
