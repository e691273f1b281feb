"""Record batches into Parquet or CSV files, streamed: a table of any length in bounded memory."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterable

import pyarrow as pa  # type: ignore[import-untyped]

from ..files.output import Output

#: File formats a table is written in, and their extensions.
TABLE_FORMATS = {"parquet": ".parquet", "csv": ".csv"}


class _Sink(io.RawIOBase):
    """An `Output` as the binary file object pyarrow writes to (every write goes through the Output)."""

    def __init__(self, out: Output) -> None:
        self._out = out
        self._pos = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._out.write(data)
        self._pos += len(memoryview(data))
        return len(memoryview(data))

    def tell(self) -> int:
        return self._pos


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """List columns (CSV has no lists) as JSON text: `[3, 17, 42]`."""
    if not any(pa.types.is_list(f.type) for f in batch.schema):
        return batch
    arrays, fields = [], []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if pa.types.is_list(field.type):
            column = pa.array([None if v is None else json.dumps(v) for v in column.to_pylist()], type=pa.string())
            field = field.with_type(pa.string())
        arrays.append(column)
        fields.append(field)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields, metadata=batch.schema.metadata))


def write_table(batches: Iterable[pa.RecordBatch], out: Output, format: str) -> int:
    """Write record batches (all of one schema, at least one) to `out` as Parquet or CSV; return the rows.

    Parquet: format version 2.6 (nanosecond timestamps), zstd, the schema's metadata
    kept. CSV: a header line, times as ISO 8601 in UTC, lists as JSON.
    The caller commits or aborts `out`.
    """
    it = iter(batches)
    first = next(it)
    rows = 0
    stream = pa.PythonFile(_Sink(out), mode="w")
    if format == "parquet":
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        with pq.ParquetWriter(stream, first.schema, version="2.6", compression="zstd") as writer:
            for batch in itertools.chain([first], it):
                if batch.num_rows:
                    writer.write_batch(batch)
                    rows += batch.num_rows
    elif format == "csv":
        import pyarrow.csv as csv  # type: ignore[import-untyped]

        first = _csv_ready(first)
        with csv.CSVWriter(stream, first.schema) as writer:
            writer.write_batch(first)
            rows += first.num_rows
            for batch in it:
                writer.write_batch(_csv_ready(batch))
                rows += batch.num_rows
    else:
        raise ValueError(f"unknown table format {format!r}; choose from {', '.join(TABLE_FORMATS)}")
    stream.close()
    return rows


__all__ = ["TABLE_FORMATS", "write_table"]
