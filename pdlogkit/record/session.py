"""A whole recording session: record until told to stop, split into numbered files."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .recorder import EventRecorder, RecorderStatus
from .segments import SegmentSummary


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
    stop: threading.Event | None = None,
    begin: threading.Event | None = None,
    on_status: Callable[[RecorderStatus, str], None] | None = None,
    **recorder_options: Any,
) -> list[SegmentSummary]:
    """Record `uri` into `path` until `duration` passes or `stop` is set; return each file's summary.

    With `split_bytes` / `split_seconds` the recording is cut into run-0001.bin,
    run-0002.bin, ... with no event lost between files. With `begin`, the
    recorder connects (filling its pre-roll) and the first file opens only once
    `begin` is set. `on_status` is called about ten times a second. A background
    error (disk full, ...) ends the session with `RecordingFailed`.
    """
    stop = stop or threading.Event()
    splitting = bool(split_bytes or split_seconds)
    number = 1
    current = split_path(path, number) if splitting else os.fspath(path)
    summaries: list[SegmentSummary] = []
    with EventRecorder(uri, **recorder_options) as rec:
        if begin is not None:
            while not begin.wait(0.1):
                if stop.is_set():
                    return summaries
                if on_status:
                    on_status(rec.status(), "")
        rec.start(current)
        started = segment_started = time.monotonic()
        try:
            while not stop.wait(0.1):
                now = time.monotonic()
                if duration is not None and now - started >= duration:
                    break
                status = rec.status()
                if status.failed:
                    rec.stop()  # raises the background error (RecordingFailed) with its summary
                if on_status:
                    on_status(status, current)
                if splitting and (
                    (split_bytes and status.segment_bytes >= split_bytes)
                    or (split_seconds and now - segment_started >= split_seconds)
                ):
                    number += 1
                    current = split_path(path, number)
                    summaries.append(rec.rotate(current))
                    segment_started = now
        finally:
            if rec.is_recording:
                summaries.append(rec.stop())
    return summaries
