"""Archive scale on Dask: a whole archive as one dask DataFrame, and batch jobs on a cluster.

    from pdlogkit.dask import read_table, run_batch
    df = read_table("s3://lab/2026/*.pdlz", "scan_capacitance")    # one partition per log (or time window)
    df.groupby("log")["capacitance"].mean().compute()

The work runs on Dask's own engine: a `distributed.LocalCluster` on this machine,
or an existing cluster (`scheduler="tcp://host:8786"`). Every worker needs
pdlogkit installed, and reaches the logs by the same paths or URLs. Needs the
optional extra `dask` (`pip install 'pdlogkit[dask]'`).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import uuid
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from .batch import JobOptions, JobResult, Status, expand, remove_partials, run_job
from .errors import MissingDependencyError
from .log import open_log

EXTRA = "pip install 'pdlogkit[dask]'"
#: A container larger than this is read as several partitions, one per time window of about this many bytes.
PARTITION_BYTES = 256 << 20
#: Seconds to wait for an existing scheduler to answer.
CONNECT_TIMEOUT = 30.0


def _need(module: str) -> Any:
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise MissingDependencyError(f"this needs {module}, which is not installed: {EXTRA}") from None


# ---------------------------------------------------------------- tables


@dataclass(frozen=True)
class _Part:
    """One partition: a log, and the window of it (seconds from its start; None: open-ended)."""

    log: str
    kind: str
    columns: tuple[str, ...] | None
    start: float | None
    end: float | None
    log_column: str | None
    storage_options: dict[str, Any] | None


def _read_part(part: _Part) -> Any:
    """One partition's rows as a pandas DataFrame (runs on a worker)."""
    with open_log(part.log, storage_options=part.storage_options) as log:
        columns = list(part.columns) if part.columns is not None else None
        frame = log.table(part.kind, start=part.start, end=part.end, columns=columns).to_pandas()  # type: ignore[attr-defined]
    if part.log_column is not None:
        frame[part.log_column] = part.log
    return frame


def _windows(log: str, storage_options: dict[str, Any] | None, partition_bytes: int) -> list[tuple[float | None, ...]]:
    """The windows (start, end) to read a log in: one for most logs, several for a big indexed one."""
    with open_log(log, storage_options=storage_options) as opened:
        size = opened.size or 0
        if not opened.has_index or size <= partition_bytes:
            return [(None, None)]
        summary = opened.summary()
    if summary.start_ns is None or summary.end_ns is None:
        return [(None, None)]
    count = math.ceil(size / partition_bytes)
    step = (summary.end_ns - summary.start_ns) / 1e9 / count
    bounds: list[float | None] = [None, *(i * step for i in range(1, count)), None]
    return list(itertools.pairwise(bounds))


def read_table(
    paths_or_glob: str | Iterable[str],
    kind: str,
    columns: list[str] | None = None,
    *,
    log_column: str | None = "log",
    storage_options: dict[str, Any] | None = None,
    partition_bytes: int = PARTITION_BYTES,
) -> Any:
    """Table `kind` of many logs as one `dask.dataframe.DataFrame`: one partition per log, or per time window
    of a big container (about `partition_bytes` of log each).

    `paths_or_glob` is a path, folder, glob or URL (`s3://lab/*.pdlz`), or a list of them. The rows
    are those of `Log.table(kind)` log after log, in the order of the logs; `log_column` (None: none)
    names the log each row comes from. Each log's index is read here to plan the partitions; the
    rows are read when computed, where the work runs.
    """
    dd = _need("dask.dataframe")
    from .export import table_schema  # the tables come with the `tables` extra

    patterns = [paths_or_glob] if isinstance(paths_or_glob, str) else list(paths_or_glob)
    logs = expand(patterns, storage_options)
    cols = tuple(columns) if columns is not None else None
    parts = [
        _Part(log, kind, cols, start, end, log_column, storage_options)
        for log in logs
        for start, end in _windows(log, storage_options, partition_bytes)
    ]
    schema = table_schema(kind)
    meta = schema.empty_table().to_pandas()
    if cols is not None:
        meta = meta[list(cols)]
    if log_column is not None:
        meta[log_column] = meta.index.astype("str")  # empty: the dtype a column of paths gets
    return dd.from_map(_read_part, parts, meta=meta, label=f"pdlogkit-{kind}", enforce_metadata=False)


# ---------------------------------------------------------------- batch jobs


def run_batch(
    command: str,
    logs: list[str],
    outputs: list[str | None] | None = None,
    options: JobOptions | None = None,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[JobResult]:
    """Run `command` on every log on a Dask cluster and return the results in the order of `logs`.

    `outputs` gives each log's output (see `batch.output_paths`). The cluster is a new
    `LocalCluster` of `workers` processes (default: one per core, at most one per log), or the
    existing one at `scheduler`. A log that fails is a failed result; the others go on.
    `progress(done)` is called as logs finish. On an interruption the workers' temporary files
    are removed: no partial output is left.
    """
    distributed = _need("distributed")
    outputs = outputs if outputs is not None else [None] * len(logs)
    if not logs:
        return []
    with ExitStack() as stack:
        if scheduler is not None:
            try:
                client = stack.enter_context(distributed.Client(scheduler, timeout=CONNECT_TIMEOUT))
            except OSError as exc:
                raise ValueError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        else:
            count = workers or min(len(logs), os.cpu_count() or 1)
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=count,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            )
            client = stack.enter_context(distributed.Client(cluster))
        batch = uuid.uuid4().hex[:8]
        keys = [f"pdlogkit-{command}-{batch}-{i}" for i in range(len(logs))]
        options = options or JobOptions()
        futures = client.map(run_job, [command] * len(logs), logs, outputs, [options] * len(logs), key=keys, pure=False)
        where = {future.key: i for i, future in enumerate(futures)}
        results: dict[int, JobResult] = {}
        try:
            for future in distributed.as_completed(futures):
                i = where[future.key]
                try:
                    results[i] = future.result()
                except Exception as exc:  # the worker itself died on this log (a crash, out of memory)
                    results[i] = JobResult(logs[i], command, Status.FAILED, text=f"the worker failed: {exc}")
                if progress is not None:
                    progress(len(results))
        except BaseException:
            client.cancel(futures)
            stack.close()  # stop the workers first, then clear what they were writing
            remove_partials(outputs)
            raise
    return [results[i] for i in range(len(logs))]


__all__ = ["EXTRA", "PARTITION_BYTES", "read_table", "run_batch"]
