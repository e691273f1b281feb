"""Benchmark: recorder throughput against a bare websockets client, and CPU at the real stream rate.

A flood server in a separate process sends N identical events as fast as it can.
In the same run we time (a) a bare websockets client that only receives (the
library's own ceiling) and (b) EventRecorder writing them to a log; then the
recorder's CPU share while recording a live synthetic gateway at the real rate.

    python tools/bench_record.py [--dir /work/bench-data] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import time
from pathlib import Path

from pdlogkit import schema as pb
from pdlogkit.record import EventRecorder
from pdlogkit.synth import FrameRenderer, SynthGateway


def _payload(kind: str) -> bytes:
    if kind == "image":
        jpeg = FrameRenderer(1024, 768).jpeg(34)
        jpeg = (jpeg * 2)[:130_000]
        return pb.PurpleDropEvent(
            image=pb.Image(timestamp=pb.Timestamp(seconds=1), image_data=jpeg)
        ).SerializeToString()
    return pb.PurpleDropEvent(
        active_capacitance=pb.ActiveCapacitance(timestamp=pb.Timestamp(seconds=1), measurement=5.0, calibrated=4.2)
    ).SerializeToString()


def _flood_server(port_queue: mp.Queue, payload: bytes, count: int) -> None:
    from websockets.asyncio.server import serve

    async def handler(ws) -> None:
        await asyncio.sleep(0.5)  # lets the recorder's start() come first
        for _ in range(count):
            await ws.send(payload)
        await ws.wait_closed()

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
            port_queue.put(server.sockets[0].getsockname()[1])
            await asyncio.Future()

    asyncio.run(main())


class FloodServer:
    def __init__(self, payload: bytes, count: int) -> None:
        queue: mp.Queue = mp.Queue()
        self.process = mp.Process(target=_flood_server, args=(queue, payload, count), daemon=True)
        self.process.start()
        self.url = f"ws://127.0.0.1:{queue.get(timeout=30)}"

    def close(self) -> None:
        self.process.terminate()
        self.process.join()


def bare_client(url: str, count: int) -> float:
    from websockets.asyncio.client import connect

    async def main() -> float:
        async with connect(url, compression=None, max_size=None) as ws:
            received = 0
            start = time.perf_counter()
            async for _ in ws:
                received += 1
                if received == 1:
                    start = time.perf_counter()
                if received == count:
                    return time.perf_counter() - start
        raise RuntimeError("connection closed early")

    return asyncio.run(main())


def recorder(url: str, count: int, path: Path) -> float:
    """Seconds from the first event's receive time until stop() returns: every event written and fsynced."""
    rec = EventRecorder(url)
    rec.start(path)
    while rec.status().received < count:
        time.sleep(0.05)  # poll lazily: this thread must not compete with the recorder's
    summary = rec.stop()
    done = time.time()
    rec.close()
    assert summary.events == count and summary.first_time is not None, summary
    return done - summary.first_time


def throughput(kind: str, count: int, directory: Path, repeat: int) -> dict[str, float]:
    payload = _payload(kind)
    results: dict[str, list[float]] = {"bare": [], "recorder": []}
    for _ in range(repeat):
        for name in ("bare", "recorder"):
            server = FloodServer(payload, count)
            try:
                if name == "bare":
                    seconds = bare_client(server.url, count)
                else:
                    seconds = recorder(server.url, count, directory / f"bench-{kind}.bin")
            finally:
                server.close()
            results[name].append((count - 1) / seconds)
    return {
        "size": len(payload),
        "bare": statistics.median(results["bare"]),
        "recorder": statistics.median(results["recorder"]),
    }


def _live_gateway(port_queue: mp.Queue, seconds: float) -> None:
    async def main() -> None:
        async with SynthGateway() as gw:
            port_queue.put(gw.port)
            await asyncio.sleep(seconds)

    asyncio.run(main())


def cpu_at_real_rate(directory: Path, seconds: float) -> tuple[float, float]:
    queue: mp.Queue = mp.Queue()
    proc = mp.Process(target=_live_gateway, args=(queue, seconds + 15), daemon=True)
    proc.start()
    url = f"ws://127.0.0.1:{queue.get(timeout=60)}"
    rec = EventRecorder(url)
    time.sleep(1.0)
    rec.start(directory / "bench-live.bin")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    summary = rec.stop()
    rec.close()
    proc.terminate()
    return cpu / wall, summary.bytes / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/work/bench-data"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--live-seconds", type=float, default=20.0)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)

    print(f"recorder throughput (median of {args.repeat}; flood server in its own process; cores: {os.cpu_count()})")
    print(f"{'events':<22}{'bare client ev/s':>18}{'recorder ev/s':>16}{'recorder MB/s':>15}{'ratio':>8}")
    for kind, count in (("small (30 B)", 100_000), ("frames (130 KB)", 3_000)):
        r = throughput("image" if "frames" in kind else "small", count, args.dir, args.repeat)
        mbps = r["recorder"] * r["size"] / 1e6
        print(f"{kind:<22}{r['bare']:>18,.0f}{r['recorder']:>16,.0f}{mbps:>15,.1f}{r['recorder'] / r['bare']:>8.2f}")

    share, rate = cpu_at_real_rate(args.dir, args.live_seconds)
    print(f"\nrecorder CPU at the real stream rate ({rate / 1e6:.2f} MB/s, camera at 10 fps): {share:.1%} of one core")


if __name__ == "__main__":
    main()
