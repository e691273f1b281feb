"""Batch jobs: one command (info, verify, index, convert, video, export) over many logs, each on its own.

Free of Dask: `expand` turns paths, folders, globs and URLs (globs too: `s3://lab/2026/*.pdlz`)
into a list of logs, `output_paths` names each log's output under one folder (mirroring where
the logs are), and `run_job` does one command on one log and returns a `JobResult` whatever
happens: a log that fails is a result, never an exception, so a runner (a plain loop, or
`pdlogkit.dask.run_batch` on a cluster) always finishes the others.
"""

from __future__ import annotations

import contextlib
import enum
import glob
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import FullScanWarning, PdlogkitError, TruncatedLogWarning
from .files.indexed_writer import LEVEL
from .files.remote import filesystem, is_url, local_path
from .log import INDEXED_SUFFIX, TimeBound, open_log

#: The commands a batch runs.
COMMANDS = ("info", "verify", "index", "convert", "video", "export")
#: Commands that write an output per log (into the batch's output folder).
WRITERS = frozenset({"convert", "video", "export"})
#: What a folder given as a pattern stands for: the logs in it, at any depth.
LOG_SUFFIXES = (".pdlz", ".bin", ".pdlog")
#: Files beside logs that are never logs themselves.
_NOT_LOGS = (".pdidx", ".pdmeta", ".part")


@dataclass
class JobOptions:
    """What a command needs beyond the log: output format and level, window and kinds, codec, --force."""

    format: str | None = None
    level: int = LEVEL
    kinds: list[str] | None = None
    start: TimeBound = None
    end: TimeBound = None
    codec: str = "h264"
    overwrite: bool = False


class Status(str, enum.Enum):
    """How a job ended."""

    OK = "ok"
    PROBLEMS = "problems"  # the command ran and found problems (verify)
    FAILED = "failed"  # the command could not do its work on this log


@dataclass
class JobResult:
    """What one command did to one log."""

    log: str
    command: str
    status: Status
    output: str | None = None
    seconds: float = 0.0
    #: One line for the results table.
    text: str = ""
    #: The command's own report (summary, verify report, write report), JSON-ready.
    details: dict[str, Any] = field(default_factory=dict)
    #: What the reading said on the way, each once (a log cut short, a slow remote read).
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {**asdict(self), "status": self.status.value, "ok": self.ok}


# ---------------------------------------------------------------- which logs


def _is_log_name(name: str) -> bool:
    return not name.endswith(_NOT_LOGS)


def expand(patterns: Iterable[str], storage_options: dict[str, Any] | None = None) -> list[str]:
    """Every log the patterns name, in order, each once: paths, folders (the logs in them), globs, URLs.

    A pattern that names nothing is a `ValueError` (a typo should not look like an empty archive).
    """
    logs: list[str] = []
    for pattern in patterns:
        found = _expand_one(pattern, storage_options)
        if not found:
            raise ValueError(f"{pattern}: no log there")
        logs.extend(found)
    return list(dict.fromkeys(logs))


def _expand_one(pattern: str, storage_options: dict[str, Any] | None) -> list[str]:
    if is_url(pattern) and local_path(pattern) is None:
        if not glob.has_magic(pattern.split("://", 1)[-1]):
            return [pattern]
        fs, path = filesystem(pattern, storage_options)
        try:
            found = fs.glob(path)
        except Exception as exc:
            from .files.remote import remote_error

            raise remote_error(pattern, exc, "cannot list") from None
        return [fs.unstrip_protocol(p) for p in sorted(found) if _is_log_name(p) and not fs.isdir(p)]
    pattern = local_path(pattern) or pattern
    if os.path.isdir(pattern):
        found = [
            os.path.join(folder, name)
            for folder, _, names in os.walk(pattern)
            for name in names
            if name.lower().endswith(LOG_SUFFIXES)
        ]
        return sorted(found)
    if glob.has_magic(pattern):
        return [p for p in sorted(glob.glob(pattern, recursive=True)) if os.path.isfile(p) and _is_log_name(p)]
    return [pattern] if os.path.exists(pattern) else []


def _parts(log: str) -> list[str]:
    if is_url(log):
        scheme, _, rest = log.partition("://")
        return [scheme, *rest.split("/")]
    return os.path.abspath(log).split(os.sep)


def output_paths(logs: list[str], out: str | os.PathLike[str], suffix: str) -> list[str]:
    """Each log's output in folder `out`: its path below the logs' common folder, with `suffix` for its extension.

    `a/2025/run.bin` and `a/2026/run.bin` become `OUT/2025/run.pdlz` and `OUT/2026/run.pdlz`.
    """
    parts = [_parts(log) for log in logs]
    common = 0
    if parts:
        folders = [p[:-1] for p in parts]
        while all(len(f) > common and f[common] == folders[0][common] for f in folders):
            common += 1
    rels = [[x for x in p[common:] if x not in ("", ".", "..")] for p in parts]
    names = [(*rel[:-1], os.path.splitext(rel[-1])[0] + suffix) for rel in rels]
    taken: dict[tuple[str, ...], int] = {}
    for name in names:
        taken[name] = taken.get(name, 0) + 1
    outputs = []
    for rel, name in zip(rels, names, strict=True):
        if taken[name] > 1:  # run.bin and run.pdlz side by side: run-bin.pdlz and run-pdlz.pdlz
            stem, ext = os.path.splitext(rel[-1])
            name = (*rel[:-1], f"{stem}-{ext.lstrip('.')}{suffix}")
        outputs.append(os.path.join(os.fspath(out), *name))
    return outputs


def output_suffix(command: str, options: JobOptions) -> str:
    """The extension of a command's output (empty: a folder)."""
    if command == "convert":
        return ".bin" if options.format == "classic" else INDEXED_SUFFIX
    if command == "video":
        return ".mkv" if options.codec == "copy" else ".mp4"
    if command == "export":
        return ".mcap" if options.format == "mcap" else ""
    return ".pdidx" if command == "index" else ""


# ---------------------------------------------------------------- one log


def _info(log: str, output: str | None, options: JobOptions) -> JobResult:
    with open_log(log) as opened:
        summary = opened.summary()
    text = f"{summary.events} events, {summary.duration:.1f} s, {summary.format}, {summary.file_size} bytes"
    return JobResult(log, "info", Status.OK, text=text, details=summary.to_dict())


def _verify(log: str, output: str | None, options: JobOptions) -> JobResult:
    from .ops import verify_log

    report = verify_log(log)
    status = Status.OK if report.ok else Status.PROBLEMS
    text = "OK" if report.ok else f"{len(report.problems)} problem(s): {report.problems[0]}"
    return JobResult(log, "verify", status, text=f"{text} ({report.events} events)", details=report.to_dict())


def _index(log: str, output: str | None, options: JobOptions) -> JobResult:
    from .ops import index_log

    path = index_log(log, out=output, overwrite=options.overwrite)
    text = "has an index of its own (a container)" if path is None else f"wrote {path}"
    return JobResult(log, "index", Status.OK, output=path, text=text)


def _convert(log: str, output: str | None, options: JobOptions) -> JobResult:
    from .ops import convert

    assert output is not None
    report = convert(log, output, format=options.format, level=options.level, overwrite=options.overwrite)
    text = f"{report.events} events, {report.bytes_out} bytes ({report.format})"
    return JobResult(log, "convert", Status.OK, output=output, text=text, details=report.to_dict())


def _video(log: str, output: str | None, options: JobOptions) -> JobResult:
    from .video import write_video

    assert output is not None
    summary = write_video(
        log, output, start=options.start, end=options.end, codec=options.codec, overwrite=options.overwrite
    )
    text = f"{summary.frames} frames, {summary.duration:.1f} s, {summary.size} bytes"
    return JobResult(log, "video", Status.OK, output=output, text=text, details=summary.to_dict())


def _export(log: str, output: str | None, options: JobOptions) -> JobResult:
    from .export import export_log  # the tables come with the `tables` extra: loaded only when asked for

    assert output is not None
    report = export_log(
        log,
        output,
        kinds=options.kinds,
        start=options.start,
        end=options.end,
        format=options.format,
        overwrite=options.overwrite,
    )
    details = report.to_dict() if hasattr(report, "to_dict") else {}
    return JobResult(log, "export", Status.OK, output=output, text=f"wrote {output}", details=details)


_JOBS: dict[str, Callable[[str, str | None, JobOptions], JobResult]] = {
    "info": _info,
    "verify": _verify,
    "index": _index,
    "convert": _convert,
    "video": _video,
    "export": _export,
}


def run_job(command: str, log: str, output: str | None = None, options: JobOptions | None = None) -> JobResult:
    """Run `command` on one log, writing `output` where the command writes one; never raises for a bad log.

    Whatever goes wrong with this log (unreadable, corrupt, output exists, ...) is a `failed` result
    holding the one-line error.
    """
    if command not in _JOBS:
        raise ValueError(f"unknown batch command {command!r}; choose from {', '.join(COMMANDS)}")
    options = options or JobOptions()
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:  # in a worker they would go to its stderr, raw
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", TruncatedLogWarning)
        warnings.simplefilter("always", FullScanWarning)
        try:
            if output is not None:
                os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
            result = _JOBS[command](log, output, options)
        except (PdlogkitError, OSError, ValueError) as exc:
            result = JobResult(log, command, Status.FAILED, output=None, text=_one_line(exc))
        except Exception as exc:  # a bug or a library's surprise: still one log's failure, not the batch's
            text = f"{type(exc).__name__}: {_one_line(exc)}"
            result = JobResult(log, command, Status.FAILED, output=None, text=text)
    result.warnings = list(dict.fromkeys(_one_line(w.message) for w in caught))  # type: ignore[arg-type]
    result.seconds = time.perf_counter() - t0
    return result


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, PdlogkitError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__


def remove_partials(outputs: Iterable[str | None]) -> None:
    """Remove the temporary files an interrupted batch's workers left beside their outputs (`.NAME.*.part`)."""
    for output in outputs:
        if output is None:
            continue
        folder, name = os.path.split(output)
        for tmp in glob.glob(os.path.join(glob.escape(folder or "."), f".{glob.escape(name)}.*.part")):
            if os.path.isdir(tmp) and not os.path.islink(tmp):  # an export's folder of tables
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


__all__ = [
    "COMMANDS",
    "WRITERS",
    "JobOptions",
    "JobResult",
    "Status",
    "expand",
    "output_paths",
    "output_suffix",
    "remove_partials",
    "run_job",
]
