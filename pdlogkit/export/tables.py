"""Tables over a `Log`: streamed in Arrow record batches, memory bounded whatever the log's size.

    from pdlogkit import open_log
    log = open_log("run.pdlz")
    df = log.to_pandas("scan_capacitance", start=60, end=120)
    for batch in record_batches(log, "active_capacitance", batch_rows=100_000): ...

Only the events of the kinds a table needs are read (a container reads only the
chunks holding them); payloads are decoded a batch at a time (`builders`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa  # type: ignore[import-untyped]

from .builders import Activations, ImageIndex, build, markers_batch
from .schemas import check_table, project, table_schema

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

    from ..log import Log, TimeBound

#: Rows per record batch unless asked otherwise.
BATCH_ROWS = 131_072
#: Events decoded together at most: enough for numpy to pay off, few enough to stay in the CPU's caches.
MAX_BATCH_EVENTS = 8192
#: Rows an event of each kind gives, about (to size the batches of events).
_ROWS_PER_EVENT = {
    "scan_capacitance": 128,
    "group_capacitance": 5,
    "duty_cycle_updated": 5,
    "temperature_control": 4,
    "electrode_state": 7,
}

#: Called with the number of events read so far.
EventProgress = Callable[[int], None] | None


def _log_metadata(log: Log, kind: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"table": kind, "log": os.path.basename(log.path), "time_source": log.time_source}
    for key in ("board", "source", "device"):
        if key in log.metadata:
            meta[key] = log.metadata[key]
    meta["metadata"] = log.metadata
    return meta


def record_batches(
    log: Log,
    kind: str,
    *,
    start: TimeBound = None,
    end: TimeBound = None,
    columns: list[str] | None = None,
    batch_rows: int = BATCH_ROWS,
    progress: EventProgress = None,
) -> Iterator[pa.RecordBatch]:
    """Table `kind` of `log`, as record batches of at most `batch_rows` rows (at least one batch, maybe empty).

    `start`/`end` choose rows whose time is in [start, end) (seconds from the
    log's start, or aware datetimes; `activations` overlapping it); `columns`
    chooses and orders the columns. Every batch has the schema `table_schema(kind)`
    (projected), with the log's board, source and time source in its metadata.
    `progress(events)` is called as events are read.
    """
    check_table(kind)
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ValueError(f"batch_rows must be a positive integer, not {batch_rows!r}")
    lo, hi = log.window_ns(start, end)
    if lo is not None and hi is not None and hi <= lo:
        raise ValueError(f"the window is empty: end ({end}) is not after start ({start})")
    schema = project(table_schema(kind, _log_metadata(log, kind)), columns, kind)
    yielded = False
    for batch in _batches(log, kind, start, end, lo, hi, batch_rows, progress):
        for offset in range(0, batch.num_rows, batch_rows):
            piece = batch.slice(offset, batch_rows)
            if columns is not None:
                piece = piece.select(columns)
            yield pa.RecordBatch.from_arrays(piece.columns, schema=schema)
            yielded = True
    if not yielded:
        yield pa.RecordBatch.from_pylist([], schema=schema)


def _batches(
    log: Log,
    kind: str,
    start: TimeBound,
    end: TimeBound,
    lo: int | None,
    hi: int | None,
    batch_rows: int,
    progress: EventProgress,
) -> Iterator[pa.RecordBatch]:
    path = log.path
    if kind == "markers":
        yield markers_batch(log.markers(), lo, hi)
        return
    per_batch = max(1, min(batch_rows // _ROWS_PER_EVENT.get(kind, 1), MAX_BATCH_EVENTS))
    if kind == "activations":
        # The state before the window matters: read from the log's start up to the window's end.
        activations = Activations(lo, hi)
        for times, payloads, offsets in _event_batches(log, ["electrode_state"], None, end, per_batch, progress):
            activations.add(times, payloads, offsets, path)
        yield activations.finish()
        return
    if kind == "image":
        index = ImageIndex(path)
        done = 0
        for t, event in log.timed_events(index.kinds, start, end):
            index.add(t, event.payload, event.offset)
            done += 1
            if index.rows >= per_batch:
                yield index.take()
            if progress is not None and done % 1024 == 0:
                progress(done)
        yield index.take()
        if progress is not None:
            progress(done)
        return
    for times, payloads, offsets in _event_batches(log, [kind], start, end, per_batch, progress):
        yield build(kind, times, payloads, offsets, path)


def _event_batches(
    log: Log, kinds: list[str], start: TimeBound, end: TimeBound, size: int, progress: EventProgress
) -> Iterator[tuple[list[int | None], list[bytes], list[int | None]]]:
    """(times, payloads, offsets) of about `size` events at a time (enough for numpy to pay off)."""
    times: list[int | None] = []
    payloads: list[bytes] = []
    offsets: list[int | None] = []
    done = 0
    for t, p, o in log.payload_batches(kinds, start, end):
        times += t
        payloads += p
        offsets += o
        if len(times) >= size:
            done += len(times)
            yield times, payloads, offsets
            if progress is not None:
                progress(done)
            times, payloads, offsets = [], [], []
    if times:
        done += len(times)
        yield times, payloads, offsets
        if progress is not None:
            progress(done)


def table(
    log: Log, kind: str, *, start: TimeBound = None, end: TimeBound = None, columns: list[str] | None = None
) -> pa.Table:
    """Table `kind` of `log` as one `pyarrow.Table` (see `record_batches`)."""
    batches = list(record_batches(log, kind, start=start, end=end, columns=columns))
    return pa.Table.from_batches(batches, schema=batches[0].schema)


def to_pandas(
    log: Log, kind: str, *, start: TimeBound = None, end: TimeBound = None, columns: list[str] | None = None
) -> pd.DataFrame:
    """Table `kind` of `log` as a pandas DataFrame (times as UTC `datetime64[ns]`)."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        from . import missing

        raise missing("pandas") from None
    return table(log, kind, start=start, end=end, columns=columns).to_pandas()


__all__ = ["BATCH_ROWS", "record_batches", "table", "to_pandas"]
