"""A whole recording session: record until told to stop, split into numbered files or bursts of activity."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import GatewayUnreachable
from ..markers import Marker
from .activity import check_burst_pattern
from .recorder import EventRecorder, RecorderStatus
from .segments import SegmentSummary

#: How often the session looks at the recorder (status, stop, markers, splits), in seconds.
POLL = 0.1


def split_path(path: str | os.PathLike[str], number: int) -> str:
    """The path of split file `number` (from 1): run.bin -> run-0001.bin."""
    p = Path(path)
    return os.fspath(p.with_name(f"{p.stem}-{number:04d}{p.suffix}"))


def record_session(
    uri: str,
    path: str | os.PathLike[str],
    *,
    duration: float | None = None,
    split_bytes: int | None = None,
    split_seconds: float | None = None,
    bursts: bool = False,
    max_segment: float | None = None,
    stop: threading.Event | None = None,
    begin: threading.Event | None = None,
    markers: queue.Queue[Marker] | None = None,
    on_status: Callable[[RecorderStatus, str], None] | None = None,
    **recorder_options: Any,
) -> list[SegmentSummary]:
    """Record `uri` into `path` until `duration` passes or `stop` is set; return each file's summary.

    With `split_bytes` / `split_seconds` the recording is cut into run-0001.bin,
    run-0002.bin, ... with no event lost between files. With `bursts`, `path` is a
    pattern (`run-{n}.pdlz`) and each burst of activity gets a file of its own
    (`max_segment`: the longest file, in seconds). With `begin`, the recorder
    connects (filling its pre-roll) and the first file opens only once `begin` is
    set. Markers put on `markers` are added as they come. `on_status` is called
    about ten times a second with the status and the file being written ("" when
    none). A background error (disk full, ...) ends the session with `RecordingFailed`.
    """
    stop = stop or threading.Event()
    if bursts and (split_bytes or split_seconds):
        raise ValueError("bursts of activity cannot also be split by size or duration (use max_segment)")
    if bursts:  # before connecting: a bad pattern or files in the way fail at once
        check_burst_pattern(os.fspath(path), bool(recorder_options.get("overwrite")))
    splitting = bool(split_bytes or split_seconds)
    number = 1
    current = split_path(path, number) if splitting else os.fspath(path)
    summaries: list[SegmentSummary] = []
    with EventRecorder(uri, **recorder_options) as rec:
        if not _connected(rec, stop, float(recorder_options.get("connect_timeout", 5.0))):
            return summaries
        if begin is not None:
            while not begin.wait(POLL):
                if stop.is_set():
                    return summaries
                if on_status:
                    on_status(rec.status(), "")
        if bursts:
            rec.start_bursts(current, max_segment=max_segment)
        else:
            rec.start(current)
        started = segment_started = time.monotonic()
        try:
            while not stop.wait(POLL):
                now = time.monotonic()
                if duration is not None and now - started >= duration:
                    break
                _add_markers(rec, markers)
                status = rec.status()
                if status.failed:
                    (rec.stop_bursts if bursts else rec.stop)()  # raises the background error with its summary
                if on_status:
                    on_status(status, status.path or ("" if bursts else current))
                if splitting and (
                    (split_bytes and status.segment_bytes >= split_bytes)
                    or (split_seconds and now - segment_started >= split_seconds)
                ):
                    number += 1
                    current = split_path(path, number)
                    summaries.append(rec.rotate(current))
                    segment_started = now
        finally:
            _add_markers(rec, markers)
            if bursts:
                summaries.extend(rec.stop_bursts())
            elif rec.is_recording:
                summaries.append(rec.stop())
    return summaries


def _connected(rec: EventRecorder, stop: threading.Event, timeout: float) -> bool:
    """Wait for the first connection, giving way to `stop` (False); `GatewayUnreachable` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not rec.connected:
        if stop.wait(0.02):
            return False
        if time.monotonic() > deadline:
            raise GatewayUnreachable(
                f"cannot reach the gateway at {rec.uri} within {timeout:g} s: {rec.status().last_error}"
            )
    return True


def _add_markers(rec: EventRecorder, markers: queue.Queue[Marker] | None) -> None:
    while markers is not None:
        try:
            marker = markers.get_nowait()
        except queue.Empty:
            return
        rec.add_marker(marker)
