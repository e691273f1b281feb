"""Benchmark: recording only around activity.

1. Size and frames. An hour-long synthetic experiment (`synth.Experiment()`: idle
   stretches, a burst of 30 drop moves every ten minutes or so; camera 1024x768 at
   10 frames/s) goes through the gate the recorder runs with `--frames activity`
   (pre-roll 5 s, post-roll 10 s) into one container, and unfiltered into another
   (the reference, same run). Frames kept are compared with the frames inside the
   activity windows computed from the experiment's own schedule of moves.
2. CPU at the real rate. A live synthetic gateway (its own process) is recorded by
   two recorder processes at once, one keeping everything (the reference) and one
   with `--frames activity`; each measures its own CPU time.
3. Reconnects. The gateway restarts 5 times, down 1, 2, 4, 6 and 8 s; the time
   from its accepting connections again until the recorder is connected, with
   today's retry policy and, as the reference, the earlier one (0.1 s doubling to 5 s).

    python tools/bench_activity.py [--hours 1] [--cpu-seconds 40] [--rounds 6] [--dir /work/bench-data]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import time
from pathlib import Path

from pdlogkit.activity import POST_ROLL, PRE_ROLL, ActivityGate, ItemKind
from pdlogkit.files.indexed_writer import IndexedWriter
from pdlogkit.record import EventRecorder
from pdlogkit.record import engine as record_engine
from pdlogkit.synth import Experiment, SynthGateway, SynthStream

NO_API = "http://127.0.0.1:9/rpc"  # no control API: the benchmark measures recording alone


class Counter:
    """A binary sink that only counts bytes: the size a file would have, without the disk."""

    name = "<counted>"

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def sizes(hours: float) -> dict[str, float]:
    stream = SynthStream(hours * 3600, seed=7, experiment=Experiment())
    windows = _windows(stream.bursts)
    everything, kept = Counter(), Counter()
    writer_all, writer_kept = IndexedWriter(everything), IndexedWriter(kept)  # type: ignore[arg-type]
    gate = ActivityGate(PRE_ROLL, POST_ROLL, scope="camera")
    frames = frames_inside = kept_inside = 0
    frame_time = 0
    began = time.perf_counter()
    for t, payload in stream:
        writer_all.write(payload, t)
        gate.feed(t, payload)
        for item in gate.take():
            if item.kind is ItemKind.EVENT and item.keep:
                writer_kept.write(item.payload, item.time_ns)
                if item.event_kind == "image":
                    kept_inside += _inside(windows, item.frame_ns or item.time_ns)
        if payload[0] >> 3 == 4:  # image_transform: a frame starts
            frame_time = t
        elif payload[0] >> 3 == 3:
            frames += 1
            frames_inside += _inside(windows, frame_time)
    gate.finish()
    for item in gate.take():
        if item.kind is ItemKind.EVENT and item.keep:
            writer_kept.write(item.payload, item.time_ns)
    writer_all.close()
    writer_kept.close()
    covered = sum(b - a for a, b in windows) / 1e9
    return {
        "seconds": time.perf_counter() - began,
        "everything": everything.size,
        "kept": kept.size,
        "frames": frames,
        "frames_inside": frames_inside,
        "frames_kept": gate.counts.frames_kept,
        "kept_inside": kept_inside,
        "bursts": len(stream.bursts),
        "covered": covered / (hours * 3600),
    }


def _windows(bursts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The activity windows from the experiment's schedule: [first move - pre, last move + post], merged."""
    spans = sorted((a - round(PRE_ROLL * 1e9), b + round(POST_ROLL * 1e9)) for a, b in bursts)
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def _inside(windows: list[tuple[int, int]], t: int) -> bool:
    return any(a <= t <= b for a, b in windows)


# ---------------------------------------------------------------- CPU at the real rate


def _gateway(port_queue: mp.Queue, seconds: float) -> None:
    async def main() -> None:
        # Bursts every ~40 s, so activity windows open and close during the measurement.
        async with SynthGateway(experiment=Experiment(idle=40.0, moves=30, first_idle=5.0)) as gw:
            port_queue.put(gw.port)
            await asyncio.sleep(seconds)

    asyncio.run(main())


def _recorder(url: str, path: str, frames: str, seconds: float, results: mp.Queue) -> None:
    rec = EventRecorder(url, frames=frames, rpc_url=NO_API, overwrite=True)
    rec.start(path)
    time.sleep(1.0)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    summary = rec.stop()
    rec.close()
    results.put((frames, cpu / wall, summary.bytes / wall, summary.frames_dropped))


def cpu(directory: Path, seconds: float, rounds: int) -> dict[str, list[float]]:
    shares: dict[str, list[float]] = {"all": [], "activity": []}
    for n in range(rounds):
        order = ("all", "activity") if n % 2 == 0 else ("activity", "all")  # which one connects first alternates
        ports: mp.Queue = mp.Queue()
        gateway = mp.Process(target=_gateway, args=(ports, seconds + 30), daemon=True)
        gateway.start()
        url = f"ws://127.0.0.1:{ports.get(timeout=60)}"
        results: mp.Queue = mp.Queue()
        procs = [
            mp.Process(target=_recorder, args=(url, str(directory / f"cpu-{f}.pdlz"), f, seconds, results))
            for f in order
        ]
        for p in procs:
            p.start()
        for _ in procs:
            frames, share, _rate, _dropped = results.get(timeout=seconds + 120)
            shares[frames].append(share)
        for p in procs:
            p.join()
        gateway.terminate()
    return shares


# ---------------------------------------------------------------- reconnects


def reconnects(downtimes: list[float]) -> list[float]:
    delays: list[float] = []
    with SynthGateway(frame_size=(320, 240)) as gateway, EventRecorder(gateway.ws_url, rpc_url=NO_API) as rec:
        while not rec.connected:
            time.sleep(0.01)
        for downtime in downtimes:
            assert gateway._background is not None
            gateway._background.run(gateway.stop(), timeout=10)
            while rec.connected:
                time.sleep(0.001)
            time.sleep(downtime)
            gateway._background.run(gateway.start(), timeout=10)
            accepting = time.perf_counter()
            while not rec.connected:
                time.sleep(0.001)
            delays.append(time.perf_counter() - accepting)
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/work/bench-data"))
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--cpu-seconds", type=float, default=40.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--downtimes", type=float, nargs="+", default=[1.0, 2.0, 4.0, 6.0, 8.0])
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"cores: {os.cpu_count()}")

    s = sizes(args.hours)
    print(
        f"\n{args.hours:g} h synthetic experiment, {s['bursts']} bursts, windows cover {s['covered']:.1%} "
        f"(pre-roll {PRE_ROLL:g} s, post-roll {POST_ROLL:g} s); {s['seconds']:.0f} s to generate and write"
    )
    print(f"{'':<34}{'size':>12}{'share':>9}")
    print(f"{'everything (reference)':<34}{s['everything'] / 1e6:>10,.1f}MB{1:>9.1%}")
    print(f"{'--frames activity':<34}{s['kept'] / 1e6:>10,.1f}MB{s['kept'] / s['everything']:>9.1%}")
    print(
        f"frames: {s['frames']:,} in all, {s['frames_inside']:,} inside the windows, {s['frames_kept']:,} kept, "
        f"of which {s['kept_inside']:,} inside (missed: {s['frames_inside'] - s['kept_inside']}, "
        f"outside: {s['frames_kept'] - s['kept_inside']})"
    )

    shares = cpu(args.dir, args.cpu_seconds, args.rounds)
    everything, activity = statistics.median(shares["all"]), statistics.median(shares["activity"])
    print(f"\nrecorder CPU at the real rate ({args.rounds} rounds of {args.cpu_seconds:g} s, both at once; median)")
    for name, key, median in (("frames all (reference)", "all", everything), ("frames activity", "activity", activity)):
        rounds = " ".join(f"{share:.2%}" for share in shares[key])
        print(f"{name:<34}{median:>9.2%} of one core   rounds: {rounds}")
    print(f"{'ratio':<34}{activity / everything:>9.2f}")

    new = reconnects(args.downtimes)
    record_engine.RetryDelays.__init__.__defaults__ = (0.1, 5.0)  # the earlier policy, as the reference
    old = reconnects(args.downtimes)
    print("\nreconnects: seconds from the gateway accepting connections again to the recorder connected")
    print(f"{'gateway down for (s)':<34}" + " ".join(f"{d:>6g}" for d in args.downtimes))
    print(f"{'retry every <= 0.25 s (now)':<34}" + " ".join(f"{d:6.3f}" for d in new) + f"   max {max(new):.3f}")
    print(f"{'0.1 s doubling to 5 s (before)':<34}" + " ".join(f"{d:6.3f}" for d in old) + f"   max {max(old):.3f}")


if __name__ == "__main__":
    main()
