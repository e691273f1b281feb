"""`export_log`: a log into tables (a folder of Parquet or CSV files, or one file) or into MCAP.

What `pdlogkit export` and batch runners call. Every output is written safely:
a file appears at its path only when complete, a folder is built in a
temporary folder beside it and renamed into place, and an existing output is
replaced only with `overwrite=True`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO

from ..events import check_kinds
from ..files.output import FolderOutput, Output, open_output, refuse_inputs
from ..log import Log, TimeBound, open_log

#: Output formats: a folder (or one file) of Parquet or CSV tables, or one MCAP file.
FORMATS = ("parquet", "csv", "mcap")
_EXTENSIONS = {".parquet": "parquet", ".csv": "csv", ".mcap": "mcap"}

#: Called with (events read so far, events the export will read in all).
ExportProgress = Callable[[int, int], None] | None


@dataclass
class ExportReport:
    """What `export_log` wrote."""

    output: str
    format: str
    #: Rows per table written (for MCAP: messages per channel topic).
    tables: dict[str, int]
    #: The files written (the output itself for a single file).
    files: list[str]
    events: int
    bytes_out: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def output_format(out: str | os.PathLike[str], format: str | None = None) -> tuple[str, bool]:
    """(format, whether `out` is a single file): `.mcap`, `.parquet` and `.csv` are files, anything else a folder."""
    if format is not None and format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose from {', '.join(FORMATS)}")
    by_extension = _EXTENSIONS.get(os.path.splitext(os.fspath(out))[1].lower())
    if format == "mcap" or (format is None and by_extension == "mcap"):
        return "mcap", True
    if by_extension in ("parquet", "csv") and format in (None, by_extension):
        return by_extension, True
    return format or "parquet", False


def _tables(kinds: Iterable[str] | None) -> list[str]:
    from .schemas import TABLES, check_table

    if kinds is None:
        return list(TABLES)
    chosen = [kinds] if isinstance(kinds, str) else list(dict.fromkeys(kinds))
    for kind in chosen:
        check_table(kind)
    return chosen


def _counts(log: Log) -> dict[str, int]:
    """Events per kind where an index tells them at no cost (for a progress bar), else nothing."""
    return log.summary().counts if log.has_index else {}


def _planned(counts: dict[str, int], tables: list[str]) -> int:
    """How many events the export of `tables` reads (0: not known)."""
    reads = {"image": ("image", "image_transform"), "activations": ("electrode_state",), "markers": ()}
    return sum(counts.get(k, 0) for t in tables for k in reads.get(t, (t,)))


def export_log(
    log_or_path: Log | str | os.PathLike[str] | BinaryIO,
    out: str | os.PathLike[str],
    *,
    kinds: Iterable[str] | None = None,
    start: TimeBound = None,
    end: TimeBound = None,
    format: str | None = None,
    overwrite: bool = False,
    progress: ExportProgress = None,
) -> ExportReport:
    """Export a log's tables, or the log as MCAP, to `out`.

    `out` ending in `.mcap` (or `format="mcap"`) gets every event (of `kinds`)
    as MCAP for Foxglove; ending in `.parquet` or `.csv`, the one table in
    `kinds`; anything else is a folder with one file per table
    (`scan_capacitance.parquet`, ...; `format="csv"` for CSV), every table unless
    `kinds` (table names: kinds, `activations`, `markers`) says. `start`/`end`
    choose a window (seconds from the log's start, or aware datetimes); one
    outside the log is a `WindowError`, and nothing is written.
    """
    if not isinstance(log_or_path, Log):
        with open_log(log_or_path) as log:
            return export_log(
                log, out, kinds=kinds, start=start, end=end, format=format, overwrite=overwrite, progress=progress
            )
    log = log_or_path
    t0 = time.perf_counter()
    chosen, single = output_format(out, format)
    out = os.fspath(out)
    refuse_inputs(out, [log.path], folder=True)
    streamed = log.size is None  # a pipe: read once, front to back
    if (start is not None or end is not None) and not streamed:
        log.require_window(start, end)
    if chosen == "mcap":
        return _export_mcap(log, out, kinds, start, end, overwrite, progress, t0)
    tables = _tables(kinds)
    if single and len(tables) != 1:
        raise ValueError(f"{out} is one {chosen} file: choose one table with kinds (or give a folder)")
    if streamed and len(tables) != 1:
        raise ValueError(f"{log.path} is a stream, read once: export one table (or MCAP), or save it to a file")
    from .tabular import TABLE_FORMATS

    total = _planned(_counts(log), tables)
    read = [0, 0]  # events read by the tables written, and by the one being written

    def tick(n: int) -> None:
        read[1] = n
        if progress is not None:
            progress(read[0] + n, total)

    rows: dict[str, int] = {}
    files: list[str] = []
    folder = None if single else FolderOutput(out, overwrite=overwrite)
    try:
        for table in tables:
            name = out if folder is None else table + TABLE_FORMATS[chosen]
            target = open_output(out, overwrite=overwrite) if folder is None else folder.file(name)
            rows[table] = _write_one(log, table, target, chosen, start, end, tick)
            read[0], read[1] = read[0] + read[1], 0
            files.append(name if folder is None else os.path.join(out, name))
        if folder is not None:
            folder.commit()
    except BaseException:
        if folder is not None:
            folder.abort()
        raise
    size = sum(os.path.getsize(f) for f in files)
    notes = [str(log.truncation)] if log.truncation is not None else []
    return ExportReport(out, chosen, rows, files, read[0], size, time.perf_counter() - t0, notes)


def _write_one(
    log: Log, table: str, target: Output, format: str, start: TimeBound, end: TimeBound, tick: Callable[[int], None]
) -> int:
    from .tables import record_batches
    from .tabular import write_table

    try:
        rows = write_table(record_batches(log, table, start=start, end=end, progress=tick), target, format)
        target.commit()
    except BaseException:
        target.abort()
        raise
    return rows


def _export_mcap(
    log: Log,
    out: str,
    kinds: Iterable[str] | None,
    start: TimeBound,
    end: TimeBound,
    overwrite: bool,
    progress: ExportProgress,
    t0: float,
) -> ExportReport:
    from .mcap import write_mcap

    wanted = check_kinds(kinds)
    total = sum(n for k, n in _counts(log).items() if wanted is None or k in wanted)
    target = open_output(out, overwrite=overwrite)
    try:
        topics = write_mcap(
            log,
            target,
            kinds=wanted,
            start=start,
            end=end,
            progress=None if progress is None else (lambda n: progress(n, total)),
        )
        target.commit()
    except BaseException:
        target.abort()
        raise
    events = sum(n for topic, n in topics.items() if topic.startswith("/purpledrop/"))
    notes = [str(log.truncation)] if log.truncation is not None else []
    size = os.path.getsize(out) if os.path.isfile(out) else 0
    return ExportReport(out, "mcap", topics, [out], events, size, time.perf_counter() - t0, notes)


__all__ = ["FORMATS", "ExportReport", "export_log", "output_format"]
