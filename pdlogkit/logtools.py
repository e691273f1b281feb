"""The log operations under their first module name, for scripts written against earlier versions.

New code imports from `pdlogkit.ops` (convert, slice, merge, recover, index,
verify), `pdlogkit.render` (events as JSON-ready dicts) and `pdlogkit.reports`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO

from .events import Event
from .files.indexed_writer import LEVEL
from .files.logs import StreamLog
from .ops import convert, index_log, merge_logs, recover_log, slice_log, verify_log
from .render import event_dict, event_dicts
from .reports import RecoverReport, RecoverStatus, VerifyReport, WriteReport

NOTHING_LOST = RecoverStatus.NOTHING_LOST
SOME_LOST = RecoverStatus.SOME_LOST
NOTHING_RECOVERABLE = RecoverStatus.NOTHING_RECOVERABLE


def stream_events(f: BinaryIO, *, kinds: Iterable[str] | None = None, lenient: bool = False) -> Iterator[Event]:
    """The events of a log read front to back from a pipe or other stream, either format (`StreamLog`)."""
    return StreamLog(f, lenient=lenient).events(kinds)


__all__ = [
    "LEVEL",
    "NOTHING_LOST",
    "NOTHING_RECOVERABLE",
    "SOME_LOST",
    "RecoverReport",
    "RecoverStatus",
    "VerifyReport",
    "WriteReport",
    "convert",
    "event_dict",
    "event_dicts",
    "index_log",
    "merge_logs",
    "recover_log",
    "slice_log",
    "stream_events",
    "verify_log",
]
