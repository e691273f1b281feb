"""Verifying logs end to end: what `Log.verify()` runs for each format.

Everything found is a problem (the log is not sound) or a warning (it is, but
something is odd, such as receive times stepping back). A log that a `recover`
made from a damaged one says so in its metadata; verification reports that as a
problem too, so the loss is never forgotten.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import LogFormatError
from ..events import UNKNOWN, Event
from ..formats.common import CutKind, Damage, Truncation
from ..formats.container import KIND_SLOTS, ChunkInfo, ChunkRecords
from ..reports import VerifyReport
from ..timeline import CLOCK_STEP_NS
from .classic import ClassicReader
from .indexed import IndexedReader
from .sources import Source

Progress = Callable[[int], None] | None
#: At most this many order warnings are listed.
MAX_WARNINGS = 100


def _check_payload(event: Event, report: VerifyReport) -> None:
    try:
        event.message  # noqa: B018 - parsing is the check
    except LogFormatError as exc:
        report.problems.append(str(exc))
        return
    if event.kind == UNKNOWN:
        report.problems.append(f"byte {event.offset}: payload sets no known event kind")


def _check_order(t: int | None, last: int | None, where: int | None, report: VerifyReport, what: str) -> int | None:
    if t is None:
        return last
    if last is not None and t < last - CLOCK_STEP_NS and len(report.warnings) < MAX_WARNINGS:
        report.warnings.append(f"byte {where}: {what} steps back {(last - t) / 1e9:.3f} s")
    return t if last is None or t > last else last


def _check_incomplete(metadata: dict[str, Any], report: VerifyReport) -> None:
    """A log made by `recover` from a damaged one keeps saying what was lost."""
    incomplete = metadata.get("incomplete")
    if isinstance(incomplete, dict):
        source = incomplete.get("recovered_from", "a damaged log")
        lost = incomplete.get("lost") or []
        what = "; ".join(str(x) for x in lost[:3]) + (f"; and {len(lost) - 3} more" if len(lost) > 3 else "")
        report.problems.append(f"incomplete: recovered from {source}, which had lost data ({what or 'see metadata'})")


def _check_cut(cut: Truncation | None, source: Source, report: VerifyReport) -> None:
    if cut is None:
        return
    report.problems.append(str(cut))
    if cut.kind is CutKind.PADDING:
        after = source.zero_run_end(cut.offset)
        if after < source.size:
            report.problems.append(
                f"byte {after}: {source.size - after} bytes of data after {after - cut.offset} zero bytes, not read"
            )


def check_events(events: Iterable[Event], report: VerifyReport, progress: Progress = None) -> dict[str, int]:
    """Check every event (it parses, it is of a known kind, its time does not step back); count them by kind.

    Times are receive times where the events carry them, else their timestamps.
    """
    counts: dict[str, int] = {}
    last = None
    for event in events:
        report.events += 1
        counts[event.kind] = counts.get(event.kind, 0) + 1
        _check_payload(event, report)
        received = event.received_ns
        t, what = (received, "receive time") if received is not None else (event.time_ns, "timestamp")
        last = _check_order(t, last, event.offset, report, what)
        if progress is not None and report.events % 4096 == 0 and event.offset is not None:
            progress(event.offset)
    return counts


def verify_classic(source: Source, metadata: dict[str, Any], progress: Progress = None) -> VerifyReport:
    """Check a classic log: every record whole, every payload an event, timestamps in order.

    A file whose very first record is impossible is not a classic log: `LogFormatError`.
    """
    report = VerifyReport(source.name, "classic")
    reader = ClassicReader(source, warn=False, lenient=True)
    check_events(reader, report, progress)
    if reader.damage is not None:
        if report.events == 0 and reader.damage.offset == 0:
            raise LogFormatError(f"not a log: {reader.damage.reason}", path=source.name, offset=0)
        report.problems.append(f"{reader.damage}; nothing after it can be read")
    _check_cut(reader.truncation, source, report)
    _check_incomplete(metadata, report)
    return report


def verify_container(reader: IndexedReader, progress: Progress = None) -> VerifyReport:
    """Check a container: one read of every chunk (the reader checks crcs and columns), in sequence order."""
    assert reader.index is not None
    index = reader.index
    report = VerifyReport(reader.path, "indexed", chunks=len(index))
    seqs = array("Q")
    rows = {offset: i for i, offset in enumerate(index.offsets)}
    done = 0

    def check_chunk(info: ChunkInfo, recs: ChunkRecords) -> None:
        nonlocal done
        i = rows[info.offset]
        row = index.counts[i * KIND_SLOTS : (i + 1) * KIND_SLOTS]
        if {c: n for c, n in enumerate(row) if n} != info.counts:
            report.problems.append(f"byte {info.offset}: chunk's counts per kind disagree with the index")
        seqs.extend(recs.seqs)
        done = max(done, info.end_offset)
        if progress is not None:
            progress(done)

    counts = check_events(reader.events(warn=False, on_chunk=check_chunk), report)
    report.problems.extend(str(d) for d in by_offset(reader.problems))
    _check_cut(reader.truncation, reader.source, report)
    if any(b == a for a, b in itertools.pairwise(sorted(seqs))):
        report.problems.append("some sequence numbers occur twice (events duplicated)")
    if reader.stats is not None and reader.stats.get("counts") != counts and not report.problems:
        report.problems.append("index statistics disagree with the events in the file")
    _check_incomplete(reader.metadata, report)
    return report


def by_offset(damage: Iterable[Damage]) -> list[Damage]:
    """Each damage once, in the order found."""
    return list(dict.fromkeys(damage))


__all__ = ["by_offset", "check_events", "verify_classic", "verify_container"]
