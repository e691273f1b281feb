"""Benchmark reading logs: the indexed container against the `mcap` library, classic against a naive loop.

    flock /tmp/pdlogkit-bench.lock python tools/bench_read.py [--dir /work/bench-data] [--seconds 900]

Writes (once) a realistic synthetic classic log of at least 1 GB (camera frames
all distinct, as a real camera's are), converts it to
a container (timed), writes the same events as MCAP (zstd, 1 MiB chunks, one
channel per kind, receive time as log time), and a sensor-only slice in both
formats; then times, best of `--repeat`, a full read of every event (kind, time,
payload bytes; no protobuf parse), every non-image event, a summary and 1 s
windows, and measures peak memory of full reads in fresh processes. Needs
`pip install mcap` (not a project dependency). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pdlogkit import open_log
from pdlogkit.events import KINDS
from pdlogkit.files.classic import ClassicReader
from pdlogkit.files.sidecar import sidecar_path, write_sidecar
from pdlogkit.log import IndexedLog
from pdlogkit.logtools import convert, slice_log

SENSOR_KINDS = [k for k in KINDS if k != "image"]


def write_bench_log(path: Path, seconds: float, *, pool: int = 64) -> None:
    """A synthetic classic log whose camera frames are all distinct within any `pool` in a row.

    `write_log` reuses one JPEG per drop position, and zstd then squeezes repeated
    frames within a chunk to nothing, which real cameras (sensor noise) never allow.
    """
    from pdlogkit.files.classic import ClassicWriter
    from pdlogkit.schema import PurpleDropEvent
    from pdlogkit.synth import FrameRenderer, SynthStream

    frames = [FrameRenderer(seed=k).jpeg((k * 37) % 128) for k in range(pool)]
    shown = 0
    with ClassicWriter(path) as w:
        for _, payload in SynthStream(seconds, seed=7):
            if payload[:1] == b"\x1a":  # an image event
                event = PurpleDropEvent.FromString(payload)
                event.image.image_data = frames[shown % pool]
                payload = event.SerializeToString()
                shown += 1
            w.write(payload)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def read_container(path: Path, kinds: list[str] | None = None, *, verify: bool = True) -> int:
    n = 0
    with IndexedLog(path, verify=verify) as log:
        for e in log.events(kinds=kinds):
            _ = (e.kind, e.received_ns, e.payload)
            n += 1
    return n


def read_mcap(path: Path, topics: list[str] | None = None) -> int:
    from mcap.reader import make_reader

    n = 0
    with open(path, "rb") as f:
        for _schema, channel, message in make_reader(f).iter_messages(topics=topics):
            _ = (channel.topic, message.log_time, message.data)
            n += 1
    return n


def read_classic(path: Path) -> int:
    """Like the naive loop (which knows no kinds or times), plus each event's kind."""
    n = 0
    for e in ClassicReader(path):
        _ = (e.kind, e.payload)
        n += 1
    return n


def read_naive(path: Path) -> int:
    """The loop everyone writes first: read 4 bytes, unpack, read the payload."""
    n = 0
    unpack = struct.Struct("<I").unpack
    with open(path, "rb") as f:
        while True:
            head = f.read(4)
            if len(head) < 4:
                break
            payload = f.read(unpack(head)[0])
            _ = payload
            n += 1
    return n


def write_mcap(container: Path, out: Path) -> None:
    from mcap.writer import CompressionType, Writer

    with open(out, "wb") as f, open_log(container) as log:
        w = Writer(f, chunk_size=1 << 20, compression=CompressionType.ZSTD)
        w.start(profile="", library="pdlogkit bench")
        schema = w.register_schema(name="protobuf.PurpleDropEvent", encoding="protobuf", data=b"")
        channels = {k: w.register_channel(topic=k, message_encoding="protobuf", schema_id=schema) for k in KINDS}
        channels["unknown"] = w.register_channel(topic="unknown", message_encoding="protobuf", schema_id=schema)
        for seq, e in enumerate(log.events()):
            w.add_message(
                channels[e.kind],
                log_time=e.received_ns,
                data=e.payload,
                publish_time=e.received_ns,
                sequence=seq % (1 << 32),
            )
        w.finish()


def peak_rss_mb(code: str) -> float:
    """Peak resident memory of a fresh Python process running `code`, in MB.

    VmHWM, not ru_maxrss: the latter is inherited across exec from this (big) process.
    """
    script = f"{code}\nprint([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return int(out.split()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/work/bench-data"))
    ap.add_argument("--seconds", type=float, default=900.0, help="length of the synthetic log (900 s is ~1.1 GB)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    d: Path = args.dir
    d.mkdir(parents=True, exist_ok=True)
    classic = d / f"read-bench-{args.seconds:.0f}-distinct.bin"
    container = classic.with_suffix(".pdlz")
    mcap_file = classic.with_suffix(".mcap")
    sensors = d / f"read-sensors-{args.seconds:.0f}.pdlz"
    sensors_classic = sensors.with_suffix(".bin")
    if not classic.exists():
        print(f"writing {classic} ...", file=sys.stderr)
        write_bench_log(classic, args.seconds)
    for f in (container, sensors, sensors_classic):
        f.unlink(missing_ok=True)
    size = classic.stat().st_size
    read_naive(classic)  # into the page cache
    conversion = convert(classic, container)
    if not mcap_file.exists():
        print(f"writing {mcap_file} ...", file=sys.stderr)
        write_mcap(container, mcap_file)
    slice_log(container, sensors, kinds=SENSOR_KINDS)
    convert(sensors, sensors_classic)
    sensors_level9 = d / "read-sensors-level9.pdlz"
    convert(sensors_classic, sensors_level9, level=9)

    with open_log(container) as log:
        summary = log.summary()
    payload = summary.payload_bytes
    events = summary.events
    for f in (container, mcap_file, sensors):
        read_naive(f)  # warm the page cache for every file alike

    rows: list[tuple[str, str, str, str, str]] = []

    def rate(seconds: float) -> str:
        return f"{payload / seconds / 1e6:,.0f} MB/s"

    t_ours = best(lambda: read_container(container), args.repeat)
    t_mcap = best(lambda: read_mcap(mcap_file), args.repeat)
    t_fast = best(lambda: read_container(container, verify=False), args.repeat)
    rows.append(("full read, every event", rate(t_ours), f"mcap {rate(t_mcap)}", f"{t_mcap / t_ours:.1f}x", ">= 2x"))
    rows.append(
        (
            "full read, checksums not checked (mcap's default)",
            rate(t_fast),
            f"mcap {rate(t_mcap)}",
            f"{t_mcap / t_fast:.1f}x",
            ">= 2x",
        )
    )

    t_mixed = best(lambda: read_container(container, SENSOR_KINDS), args.repeat)
    t_only = best(lambda: read_container(sensors), args.repeat)
    t_mcap_s = best(lambda: read_mcap(mcap_file, SENSOR_KINDS), args.repeat)
    rows.append(
        (
            "every non-image event",
            f"{t_mixed * 1e3:,.0f} ms",
            f"sensor-only file {t_only * 1e3:,.0f} ms; mcap {t_mcap_s * 1e3:,.0f} ms",
            f"{t_mixed / t_only:.2f}x the sensor-only file",
            "<= 1.5x",
        )
    )

    def summary_ms() -> tuple[float, float]:
        t0 = time.perf_counter()
        log = open_log(container)
        t1 = time.perf_counter()
        log.summary()
        t2 = time.perf_counter()
        log.close()
        return (t2 - t1) * 1e3, (t2 - t0) * 1e3

    def mcap_summary_ms() -> float:
        from mcap.reader import make_reader

        t0 = time.perf_counter()
        with open(mcap_file, "rb") as f:
            make_reader(f).get_summary()
        return (time.perf_counter() - t0) * 1e3

    ours = [summary_ms() for _ in range(20)]
    mc = statistics.median(mcap_summary_ms() for _ in range(20))
    s_only, s_open = statistics.median(o[0] for o in ours), statistics.median(o[1] for o in ours)
    rows.append(
        (
            "summary()",
            f"{s_only:.3f} ms ({s_open:.2f} ms with open_log)",
            f"mcap get_summary {mc:.2f} ms",
            f"{mc / s_open:.1f}x (open incl.)",
            "< 2 ms",
        )
    )

    rnd = random.Random(1)
    starts = [rnd.uniform(0, summary.duration - 1) for _ in range(30)]
    with open_log(container) as log:
        log.summary()
        wins = []
        for s in starts:
            t0 = time.perf_counter()
            list(log.events(start=s, end=s + 1))
            wins.append((time.perf_counter() - t0) * 1e3)
    from mcap.reader import make_reader

    with open(mcap_file, "rb") as f:
        reader = make_reader(f)
        reader.get_summary()
        mwins = []
        for s in starts:
            lo = summary.start_ns + round(s * 1e9)
            t0 = time.perf_counter()
            list(reader.iter_messages(starting_at=lo, ending_before=lo + 10**9))
            mwins.append((time.perf_counter() - t0) * 1e3)
    w, mw = statistics.median(wins), statistics.median(mwins)
    rows.append(
        (
            "1 s window (median of 30)",
            f"{w:.2f} ms (max {max(wins):.2f})",
            f"mcap {mw:.2f} ms",
            f"{mw / w:.1f}x",
            "< 5 ms",
        )
    )

    t0 = time.perf_counter()
    write_sidecar(classic)
    t_index = time.perf_counter() - t0
    with open_log(classic) as log:
        log.summary()
        cwins = []
        for s in starts:
            t0 = time.perf_counter()
            list(log.events(start=s, end=s + 1))
            cwins.append((time.perf_counter() - t0) * 1e3)
    os.remove(sidecar_path(classic))
    rows.append(
        (
            "classic 1 s window with `pdlogkit index` sidecar",
            f"{statistics.median(cwins):.2f} ms (max {max(cwins):.2f})",
            f"indexing took {t_index:.1f} s",
            "",
            "(quick)",
        )
    )

    t_classic = best(lambda: read_classic(classic), args.repeat)
    t_naive = best(lambda: read_naive(classic), args.repeat)
    rows.append(
        ("classic full read", rate(t_classic), f"naive loop {rate(t_naive)}", f"{t_naive / t_classic:.1f}x", ">= 1.5x")
    )
    rows.append(("classic -> container", f"{size / conversion.seconds / 1e6:,.0f} MB/s", "", "", ">= 200 MB/s"))
    s_classic, s_container = sensors_classic.stat().st_size, sensors.stat().st_size
    rows.append(
        (
            "sensor-only size",
            f"{s_container / s_classic:.1%} of classic (level 3); "
            f"{sensors_level9.stat().st_size / s_classic:.1%} (level 9)",
            f"classic {s_classic / 1e6:.1f} MB",
            "",
            "<= 25%",
        )
    )
    rss_c = peak_rss_mb(f"from pdlogkit import open_log\nfor e in open_log({str(container)!r}).events(): e.payload")
    rss_k = peak_rss_mb(f"from pdlogkit import open_log\nfor e in open_log({str(classic)!r}).events(): e.payload")
    rss_v = peak_rss_mb(f"from pdlogkit.logtools import convert\nconvert({str(classic)!r}, {str(d / 'rss.pdlz')!r})")
    (d / "rss.pdlz").unlink(missing_ok=True)
    rows.append(
        (
            "peak memory (full read / convert)",
            f"container {rss_c:.0f} MB, classic {rss_k:.0f} MB",
            f"convert {rss_v:.0f} MB",
            "",
            "< 200 MB",
        )
    )

    print(
        f"\nLog: {size / 1e9:.2f} GB classic, {container.stat().st_size / 1e9:.2f} GB container, "
        f"{mcap_file.stat().st_size / 1e9:.2f} GB MCAP; {events:,} events over {summary.duration:.0f} s; "
        f"{os.cpu_count()} CPUs\n"
    )
    print("| measure | pdlogkit | reference (same run) | ratio | target |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
