"""`pdlogkit batch`: one command over many logs (paths, globs, URLs) on a Dask cluster."""

from __future__ import annotations

import argparse
import os
import sys

from ..batch import COMMANDS, WRITERS, JobOptions, JobResult, Status, expand, output_paths, output_suffix
from ..events import KINDS
from ..files.indexed_writer import LEVEL
from .common import OK, PROBLEMS, Progress, print_json, time_bound


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `batch`."""
    p = subparsers.add_parser(
        "batch",
        help="run info, verify, index, convert, video or export over many logs on a Dask cluster",
        description="Run COMMAND on every log PATTERN names (paths, folders, globs, URLs: s3://lab/2026/*.pdlz) "
        "on a Dask cluster: a LocalCluster here by default, or an existing one (--scheduler). Each log is a job "
        "of its own: one that fails is reported and the others go on. Outputs go under --out, mirroring where "
        "the logs are; an existing output is replaced only with --force. Exit 0 if every log succeeded, 1 if not.",
    )
    p.add_argument("command", choices=COMMANDS, metavar="COMMAND", help=f"one of {', '.join(COMMANDS)}")
    p.add_argument("patterns", nargs="+", metavar="PATTERN", help="log files, folders, globs or URLs")
    p.add_argument("--out", metavar="DIR", help="folder for the outputs (convert, video, export; index: sidecars)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler (tcp://host:8786)")
    p.add_argument("--workers", type=_count, metavar="N", help="worker processes of the local cluster")
    p.add_argument("--format", help="convert: classic or indexed (default); export: the export's format")
    p.add_argument("--level", type=int, default=LEVEL, metavar="N", help="convert: zstd level (1-19)")
    p.add_argument("--codec", choices=("h264", "copy"), default="h264", help="video: encode or copy the JPEGs")
    p.add_argument("--kinds", nargs="+", metavar="KIND", help="export: only these tables")
    p.add_argument("--start", type=time_bound, metavar="T", help="video, export: seconds from each log's start")
    p.add_argument("--end", type=time_bound, metavar="T", help="video, export: end (exclusive), like --start")
    p.add_argument("--force", action="store_true", help="replace outputs that exist")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=_batch)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers (1 or more)")
    return value


def _batch(args: argparse.Namespace) -> int:
    from ..dask import run_batch

    if args.command in WRITERS and args.out is None:
        raise ValueError(f"batch {args.command} writes a file per log: say where with --out DIR")
    if args.command == "convert" and args.format not in (None, "classic", "indexed"):
        raise ValueError(f"batch convert --format takes classic or indexed, not {args.format!r}")
    if args.kinds is not None and args.command == "export":
        unknown = sorted(set(args.kinds) - set(KINDS) - {"activations", "markers"})
        if unknown:
            raise ValueError(f"unknown table(s) {', '.join(unknown)}")
    if args.out is not None and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out {args.out} is a file: give a folder (it is made if missing)")
    logs = expand(args.patterns)
    options = JobOptions(
        format=args.format,
        level=args.level,
        kinds=args.kinds,
        start=args.start,
        end=args.end,
        codec=args.codec,
        overwrite=args.force,
    )
    outputs: list[str | None] = [None] * len(logs)
    if args.out is not None:
        outputs = list(output_paths(logs, args.out, output_suffix(args.command, options)))
    bar = Progress(len(logs), f"batch {args.command}", unit="logs")
    with bar:
        bar.update(0, force=True)
        results = run_batch(
            args.command, logs, outputs, options, scheduler=args.scheduler, workers=args.workers, progress=bar.update
        )
    failed = sum(r.status is Status.FAILED for r in results)
    problems = sum(r.status is Status.PROBLEMS for r in results)
    if args.json:
        print_json({"command": args.command, "logs": len(results), "failed": failed, "problems": problems,
                    "results": [r.to_dict() for r in results]})  # fmt: skip
    else:
        _print_table(results)
        ok = len(results) - failed - problems
        tail = f", {problems} with problems" if problems else ""
        warned = sum(bool(r.warnings) for r in results)
        tail += f", {warned} with warnings" if warned else ""
        print(f"{len(results)} logs: {ok} ok, {failed} failed{tail}")
    return OK if failed == 0 and problems == 0 else PROBLEMS


def _print_table(results: list[JobResult]) -> None:
    names = [_short(r.log) for r in results]
    width = min(48, max(len(n) for n in names))
    print(f"{'log':<{width}}  {'status':<8} {'seconds':>8}  result")
    for name, r in zip(names, results, strict=True):
        where = f"{r.output}: " if r.output and r.status is Status.OK and r.command != "index" else ""
        print(f"{name:<{width}}  {r.status.value:<8} {r.seconds:>8.2f}  {where}{r.text}")
        for warning in r.warnings:
            print(f"{'':<{width}}  {'':<8} {'':>8}  warning: {warning}")
    sys.stdout.flush()


def _short(log: str) -> str:
    return log if len(log) <= 48 else "..." + log[-45:]


__all__ = ["register"]
