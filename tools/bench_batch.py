"""Benchmark archive-scale work: batch jobs on Dask against a plain loop, and remote reads over HTTP.

    flock /tmp/pdlogkit-bench.lock python tools/bench_batch.py [--dir /work/bench-data/batch] [--logs 20]

Part 1 writes (once) `--logs` realistic synthetic classic logs (`--seconds` each: camera at
10 frames/s and hardware sensor rates) and does the same job on all of them, in the same run:
a plain loop in this process (`batch.run_job` one log after the other: the reference), then
`batch.run_batch` with 1 and with 2 workers, each on a new `LocalCluster` started inside the
timing. The job is `export` (every table to Parquet) where `pdlogkit.export` is installed, else
`convert` (classic -> container); the table says which.

Part 2 writes (once) a container of about 1 GB, serves it with aiohttp on 127.0.0.1 (the tests'
counting server) and reports the requests and bytes the server sent for the summary, a 1 s
window and every sensor event, against the file's size and the bytes of the chunks needed.
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

from pdlogkit import open_log
from pdlogkit.batch import JobOptions, output_paths, output_suffix, run_job
from pdlogkit.dask import run_batch
from pdlogkit.events import KINDS
from pdlogkit.files.indexed import IndexedReader
from pdlogkit.synth import write_log

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import Traffic, file_server  # type: ignore[import-not-found]  # the tests' counting server

SENSORS = [k for k in KINDS if k not in ("image", "image_transform")]


def batch_part(folder: Path, count: int, seconds: float, repeat: int) -> None:
    logs_dir = folder / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    logs = []
    for i in range(count):
        path = logs_dir / f"run-{seconds:g}s-{i:02d}.bin"
        if not path.exists():
            write_log(path, seconds, seed=100 + i)
        logs.append(str(path))
    command = "export" if importlib.util.find_spec("pdlogkit.export") and _has_export() else "convert"
    options = JobOptions()
    size = sum(Path(p).stat().st_size for p in logs)
    rows: list[tuple[str, float, float | None, list[float]]] = []

    def fresh(name: str) -> list[str | None]:
        out = folder / "out" / name
        shutil.rmtree(out, ignore_errors=True)
        return list(output_paths(logs, out, output_suffix(command, options)))

    def loop_once() -> float:
        outputs = fresh("loop")
        t0 = time.perf_counter()
        results = [run_job(command, log, out, options) for log, out in zip(logs, outputs, strict=True)]
        took = time.perf_counter() - t0
        assert all(r.ok for r in results), [r.text for r in results if not r.ok]
        return took

    def batch_once(workers: int) -> float:
        outputs = fresh(f"w{workers}")
        t0 = time.perf_counter()
        results = run_batch(command, logs, outputs, options, workers=workers)
        took = time.perf_counter() - t0
        assert all(r.ok for r in results), [r.text for r in results if not r.ok]
        return took

    # Best of `repeat`, the runs interleaved, so other work on the shared machine weighs on each alike.
    times: dict[int, list[float]] = {0: [], 1: [], 2: []}
    loads = []
    for _ in range(repeat):
        for workers in (0, 1, 2):
            times[workers].append(loop_once() if workers == 0 else batch_once(workers))
            loads.append(os.getloadavg()[0])
    loop = min(times[0])
    rows.append(("plain loop, one process (reference)", loop, None, times[0]))
    for workers in (1, 2):
        took = min(times[workers])
        rows.append((f"`batch {command}`, LocalCluster of {workers} worker(s)", took, loop / took, times[workers]))
    starts = {workers: _cluster_start(workers) for workers in (1, 2)}
    print(f"\n### batch {command}: {count} logs of {seconds:g} s with camera, {size / 1e9:.2f} GB in all\n")
    print(f"| run | seconds (best of {repeat}) | every run | speed-up vs plain loop |")
    print("|---|---:|---:|---:|")
    for name, took, ratio, every in rows:
        runs = ", ".join(f"{t:.1f}" for t in every)
        print(f"| {name} | {took:.1f} | {runs} | {'' if ratio is None else f'{ratio:.2f}x'} |")
    print(
        f"\nThe batch times include starting and stopping the cluster: {starts[1]:.1f} s with 1 worker, "
        f"{starts[2]:.1f} s with 2 (measured alone, same run). Load average (1 min) after each run: "
        f"{', '.join(f'{x:.1f}' for x in loads)} (other work on this shared machine)."
    )


def _cluster_start(workers: int) -> float:
    """Seconds to start and stop a LocalCluster of `workers` processes and its client, doing nothing."""
    import logging

    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None, silence_logs=logging.ERROR) as c,
        Client(c),
    ):
        pass
    return time.perf_counter() - t0


def _has_export() -> bool:
    try:
        from pdlogkit.export import export_log  # noqa: F401
    except ImportError:
        return False
    return True


def chunk_bytes(
    path: Path, kinds: list[str] | None = None, start: float | None = None, end: float | None = None
) -> int:
    with open_log(path) as log:
        lo, hi = log.window_ns(start, end)
    reader = IndexedReader(path)
    index = reader.index
    assert index is not None
    ends = [*index.offsets[1:], reader.data_end]
    return sum(ends[i] - index.offsets[i] for i in reader.select(kinds, lo, hi))


def remote_part(folder: Path, seconds: float) -> None:
    container = folder / "big.pdlz"
    if not container.exists():
        write_log(container, seconds, seed=9)
    size = container.stat().st_size
    mid = seconds / 2
    with file_server(folder) as server:
        url = server.url(container.name)
        rows: list[tuple[str, Traffic, float, int | None]] = []
        server.reset()
        t0 = time.perf_counter()
        with open_log(url) as log:
            log.summary()
        took = time.perf_counter() - t0
        rows.append(("`summary()` (opening included)", server.reset(), took, None))
        with open_log(url) as log:
            log.summary()
            server.reset()
            t0 = time.perf_counter()
            n = sum(1 for _ in log.events(start=mid, end=mid + 1))
            took = time.perf_counter() - t0
            rows.append((f"1 s window ({n} events)", server.reset(), took, chunk_bytes(container, None, mid, mid + 1)))
            t0 = time.perf_counter()
            n = sum(1 for _ in log.events(kinds=SENSORS))
            took = time.perf_counter() - t0
            rows.append((f"every sensor event ({n:,})", server.reset(), took, chunk_bytes(container, SENSORS)))
    images = chunk_bytes(container, ["image"])
    print(f"\n### remote reads: a {size / 1e9:.2f} GB container over HTTP (aiohttp on 127.0.0.1)\n")
    print("| read | requests | bytes sent | chunks needed | of the file | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, traffic, took, needed in rows:
        need = "" if needed is None else f"{needed:,}"
        print(f"| {name} | {traffic.requests} | {traffic.bytes:,} | {need} | {traffic.bytes / size:.4%} | {took:.3f} |")
    print(f"\nThe image chunks the sensor read skipped: {images:,} bytes.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/work/bench-data/batch"))
    parser.add_argument("--logs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=300.0, help="length of each batch log")
    parser.add_argument("--part", choices=("both", "batch", "remote"), default="both")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each batch measurement (best is shown)")
    parser.add_argument("--big-seconds", type=float, default=800.0, help="length of the remote container (~1 GB)")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    if args.part in ("both", "batch"):
        batch_part(args.dir, args.logs, args.seconds, args.repeat)
    if args.part in ("both", "remote"):
        remote_part(args.dir, args.big_seconds)


if __name__ == "__main__":
    main()
