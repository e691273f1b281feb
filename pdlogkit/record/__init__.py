"""Recording a gateway's event stream: `EventRecorder` for scripts, `AsyncEventRecorder` for asyncio.

engine.py     AsyncEventRecorder: the connection, reconnects, segments, bursts, markers
recorder.py   EventRecorder: the same engine on a background thread, for plain scripts
segments.py   SegmentKeeper and SegmentSummary: filters, pre-roll, the open file
activity.py   the modes: everything, frames only around activity, a file per burst
markers.py    markers from scripts and from lines typed on the terminal
gateway.py    what is asked of the gateway's control API (board, device info)
session.py    record_session: what `pdlogkit record` runs
"""

from .engine import (
    DEFAULT_URI,
    FRAMES,
    MAX_MESSAGE_SIZE,
    AsyncEventRecorder,
    RecorderStatus,
    SegmentHandle,
)
from .recorder import EventRecorder
from .segments import SegmentSummary
from .session import record_session, split_path

__all__ = [
    "DEFAULT_URI",
    "FRAMES",
    "MAX_MESSAGE_SIZE",
    "AsyncEventRecorder",
    "EventRecorder",
    "RecorderStatus",
    "SegmentHandle",
    "SegmentSummary",
    "record_session",
    "split_path",
]
