"""A small index next to a classic log (`LOG.pdidx`), so windows and summaries need no full scan.

The classic format has no index and cannot get one without changing the file, so
`pdlogkit index LOG` writes this JSON file beside it: the log's summary, and the
log is cut into segments of about a megabyte, each with its start offset, the
log-clock time carried into it and the range of times within it. It names the
log's size, modification time and hashes of its first and last 64 KiB; when
they no longer match, the sidecar is stale and ignored. A remote log's sidecar is
`URL.pdidx` beside it, matched by size and hashes (an upload changes the time).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..events import Event
from ..formats.common import CutKind, Truncation
from ..summary import SummaryBuilder
from ..timeline import log_clock
from .classic import ClassicReader
from .output import open_output
from .sources import FileSource, Source

SUFFIX = ".pdidx"
FORMAT = "pdlogkit classic sidecar index"
VERSION = 2  # 2: the summary's start is the earliest time, not the first event's
SEGMENT_BYTES = 1 << 20
_HASHED = 64 << 10


def sidecar_path(log: str | os.PathLike[str]) -> str:
    """Where the sidecar of `log` lives: next to it, with `.pdidx` appended."""
    return os.fspath(log) + SUFFIX


def fingerprint(log: str | os.PathLike[str] | Source) -> dict[str, Any]:
    """What identifies the log's current content cheaply: size, mtime (of a local file), hashes of both ends."""
    if isinstance(log, (str, os.PathLike)):
        source: Source = FileSource(log)
        try:
            return fingerprint(source)
        finally:
            source.close()
    size = log.size
    stamp: dict[str, Any] = {"size": size}
    if isinstance(log, FileSource):
        stamp["mtime_ns"] = os.stat(log.fd).st_mtime_ns
    stamp["head_sha256"] = hashlib.sha256(log.pread(_HASHED, 0)).hexdigest()
    stamp["tail_sha256"] = hashlib.sha256(log.pread(_HASHED, max(0, size - _HASHED))).hexdigest()
    return stamp


@dataclass
class Segment:
    """A stretch of the log starting at a record boundary."""

    offset: int
    carry_ns: int | None  # the log-clock time carried into the segment (from the record before)
    min_ns: int | None  # earliest and latest log time of its events
    max_ns: int | None


@dataclass
class Sidecar:
    """A classic log's sidecar index, loaded."""

    log: dict[str, Any]
    summary: dict[str, Any]
    segments: list[Segment]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "log": self.log,
            "summary": self.summary,
            "segments": [[s.offset, s.carry_ns, s.min_ns, s.max_ns] for s in self.segments],
        }

    def runs(self, lo: int | None, hi: int | None) -> list[tuple[int, int | None, int | None]]:
        """(start offset, end offset or None, carried time) of the stretches that may hold times in [lo, hi)."""
        runs: list[tuple[int, int | None, int | None]] = []
        open_run: list[Any] | None = None
        for i, seg in enumerate(self.segments):
            end = self.segments[i + 1].offset if i + 1 < len(self.segments) else None
            hit = seg.min_ns is None or (
                (lo is None or seg.max_ns is None or seg.max_ns >= lo) and (hi is None or seg.min_ns < hi)
            )
            if hit:
                if open_run is not None and open_run[1] == seg.offset:
                    open_run[1] = end
                else:
                    open_run = [seg.offset, end, seg.carry_ns]
                    runs.append(open_run)  # type: ignore[arg-type]
            else:
                open_run = None
        return [tuple(r) for r in runs]  # type: ignore[misc]


def first_time_ns(log: str | os.PathLike[str] | Source) -> int | None:
    """The first embedded timestamp of a classic log (the time of its untimed leading events)."""
    for event in ClassicReader(log, warn=False):
        if event.time_ns is not None:
            return event.time_ns
    return None


def build_sidecar(
    log: str | os.PathLike[str] | Source,
    *,
    segment_bytes: int = SEGMENT_BYTES,
    progress: Callable[[int], None] | None = None,
) -> Sidecar:
    """Scan a classic log once and build its sidecar index (the summary and the segments)."""
    stamp = fingerprint(log)
    start = first_time_ns(log)
    reader = ClassicReader(log, warn=False)
    builder = SummaryBuilder()
    segments: list[Segment] = []
    seg: Segment | None = None
    carry = start
    next_cut = 0
    for t, event in log_clock(reader, start):
        offset = event.offset or 0  # a file's events always have one
        if offset >= next_cut:
            seg = Segment(offset, carry, None, None)
            segments.append(seg)
            next_cut = offset + segment_bytes
            if progress is not None:
                progress(offset)
        if t is not None and seg is not None:
            if seg.min_ns is None or t < seg.min_ns:
                seg.min_ns = t
            if seg.max_ns is None or t > seg.max_ns:
                seg.max_ns = t
        builder.add(event.kind, len(event.payload), t)
        carry = t
    cut = reader.truncation
    summary = {
        **builder.to_stats(),
        "truncation": [cut.offset, cut.needed, cut.available, cut.kind.value] if cut else None,
    }
    return Sidecar(stamp, summary, segments)


def write_sidecar(
    log: str | os.PathLike[str] | Source,
    *,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> str:
    """Build and write the sidecar of a classic log (atomically); return its path.

    It goes beside the log, or to `out` (a remote log's sidecar is written locally, to be put
    beside it as `NAME.pdidx`). An older sidecar there is replaced; any other file only with
    `overwrite`.
    """
    if out is None and not isinstance(log, (str, os.PathLike)):
        raise ValueError(f"{log.name}: say where to write its sidecar index (beside a local file only)")
    path = os.fspath(out) if out is not None else sidecar_path(log)  # type: ignore[arg-type]
    output = open_output(path, overwrite=overwrite or _is_sidecar(path))
    try:
        sidecar = build_sidecar(log, progress=progress)
        output.write(json.dumps(sidecar.to_json(), separators=(",", ":")).encode())
        output.commit()
    except BaseException:
        output.abort()
        raise
    return path


def _is_sidecar(path: str) -> bool:
    """Whether `path` holds a sidecar index (of any version): one `index` may replace."""
    try:
        with open(path, "rb") as f:
            return f.read(64).startswith(b'{"format":"' + FORMAT.encode() + b'"')
    except OSError:
        return False


def load_sidecar(log: str | os.PathLike[str]) -> Sidecar | None:
    """The sidecar of `log` if there is one and it still matches the log; else None."""
    try:
        with open(sidecar_path(log), "rb") as f:
            return _parse(f.read(), lambda: fingerprint(log))
    except OSError:
        return None


def load_sidecar_beside(source: Source) -> Sidecar | None:
    """The sidecar beside any source (a remote log's: `URL.pdidx`) if it matches the log's size and both ends.

    A copied or uploaded file has another modification time: only the content is compared.
    """
    data = source.sibling(SUFFIX)
    if data is None:
        return None
    return _parse(data, lambda: fingerprint(source), ignore=("mtime_ns",))


def _parse(raw: bytes, stamp: Callable[[], dict[str, Any]], ignore: tuple[str, ...] = ()) -> Sidecar | None:
    try:
        data = json.loads(raw)
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            return None
        recorded = {k: v for k, v in data["log"].items() if k not in ignore}
        if recorded != {k: v for k, v in stamp().items() if k not in ignore}:
            return None  # stale: the log changed since it was indexed
        SummaryBuilder.from_stats(data["summary"])  # ValueError if malformed
        segments = [Segment(*row) for row in data["segments"]]
        return Sidecar(data["log"], data["summary"], segments)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


def truncation_of(summary: dict[str, Any]) -> Truncation | None:
    """The truncation a sidecar summary records, if any."""
    cut = summary.get("truncation")
    if not cut:
        return None
    try:
        kind = CutKind(cut[3]) if len(cut) > 3 else CutKind.RECORD
        return Truncation(int(cut[0]), int(cut[1]), int(cut[2]), kind)
    except (TypeError, ValueError, IndexError):
        return None


def window_events(
    log: str | os.PathLike[str] | Source, sidecar: Sidecar, lo: int | None, hi: int | None
) -> Iterator[tuple[int | None, Event]]:
    """(log time, event) of every event in the stretches of `log` that may hold times in [lo, hi)."""
    for start, end, carry in sidecar.runs(lo, hi):
        reader = ClassicReader(log, offset=start, warn=False)
        for t, event in log_clock(reader, carry):
            if end is not None and event.offset >= end:  # type: ignore[operator]
                break
            yield t, event
