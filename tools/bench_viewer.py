"""Benchmark: what the viewer asks of a replay, and how fast the page decodes the stream.

1. Activity. `get_activity`'s first call on an hour-long synthetic experiment (camera
   1024x768 at 10 frames/s), as a container and as a classic log, against the
   same windows found from a read of every event, frames included (the reference,
   same run; what `find_activity` did before it read only the kinds that decide).
2. The frame after a seek. A paused replay is sent `playback_seek` to 10 positions;
   the `get_camera_frame` that follows each is timed against the seek itself (the
   reference: what a seek costs already).
3. Decoding in the page. In Chromium, the page's wire decoder (`web/wire.js`) decodes
   every event of a minute of the log; events per second against the stream's own
   rate at speed 1 (the reference: what the page must keep up with).

    python tools/bench_viewer.py [--minutes 60] [--dir /tmp/bench-viewer]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pdlogkit import convert, open_log
from pdlogkit.activity import find_windows
from pdlogkit.replay import ReplayServer
from pdlogkit.synth import Experiment, write_log

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def call(url: str, method: str, *params: Any) -> tuple[Any, float]:
    """A JSON-RPC call and its duration (s)."""
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=3600) as response:
        answer = json.loads(response.read())
    elapsed = time.perf_counter() - t0
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"], elapsed


def activity(path: Path) -> tuple[float, float, int]:
    """(get_activity s, every event read s, periods)."""
    t0 = time.perf_counter()
    with open_log(path) as log:
        windows = find_windows(log.timed_events(), markers=log.markers())
    reference = time.perf_counter() - t0
    with ReplayServer(path, paused=True) as server:
        periods, elapsed = call(server.rpc_url, "get_activity")
    assert len(periods) == len(windows), (len(periods), len(windows))
    return elapsed, reference, len(periods)


def frames_after_seeks(path: Path, seeks: int = 10) -> tuple[float, float]:
    """Median (get_camera_frame s, playback_seek s) over `seeks` random positions."""
    frame_times, seek_times = [], []
    rnd = random.Random(1)
    with ReplayServer(path, paused=True) as server:
        duration = server.status()["duration"]
        for _ in range(seeks):
            _, seek = call(server.rpc_url, "playback_seek", rnd.uniform(0, duration))
            frame, elapsed = call(server.rpc_url, "get_camera_frame")
            assert frame is not None
            frame_times.append(elapsed)
            seek_times.append(seek)
    return statistics.median(frame_times), statistics.median(seek_times)


def decoding(path: Path, seconds: float = 60.0) -> tuple[float, float, int]:
    """(events decoded per s in the page, events per s of the stream at speed 1, events)."""
    from playwright.sync_api import sync_playwright

    with open_log(path) as log:
        payloads = [e.payload for e in log.events(start=0, end=seconds)]
    stream_rate = len(payloads) / seconds
    blob = b"".join(len(p).to_bytes(4, "little") + p for p in payloads)

    class Events(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(blob)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(blob)

        def log_message(self, *args: Any) -> None:
            pass

    events = ThreadingHTTPServer(("127.0.0.1", 0), Events)
    threading.Thread(target=events.serve_forever, daemon=True).start()
    with ReplayServer(path, paused=True) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=FLAGS
        )
        page = browser.new_page()
        page.goto(server.http_url + "/")
        rate = page.evaluate(
            """async (url) => {
              const w = await import(new URL('/wire.js', location.href).href);
              const all = new Uint8Array(await (await fetch(url)).arrayBuffer());
              const view = new DataView(all.buffer);
              const events = [];
              for (let at = 0; at < all.length; ) {
                const size = view.getUint32(at, true);
                events.push(all.subarray(at + 4, at + 4 + size));
                at += 4 + size;
              }
              let best = 0;
              for (let round = 0; round < 3; round++) {
                const t0 = performance.now();
                for (const e of events) w.decodeEvent(e);
                best = Math.max(best, events.length / ((performance.now() - t0) / 1000));
              }
              return best;
            }""",
            f"http://127.0.0.1:{events.server_address[1]}/",
        )
        browser.close()
    events.shutdown()
    events.server_close()
    return rate, stream_rate, len(payloads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--dir", default="/tmp/bench-viewer")
    args = parser.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    container, classic = folder / "experiment.pdlz", folder / "experiment.bin"
    for path in (container, classic):
        if path.exists():
            path.unlink()
    t0 = time.perf_counter()
    write_log(container, args.minutes * 60, seed=7, experiment=Experiment())
    convert(container, classic)
    print(f"{args.minutes:g} min experiment written in {time.perf_counter() - t0:.0f} s: "
          f"{container.stat().st_size / 1e9:.2f} GB container, {classic.stat().st_size / 1e9:.2f} GB classic; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print()
    print("| measure | viewer | reference (same run) | ratio |")
    print("|---|---|---|---|")
    for name, path in (("container", container), ("classic", classic)):
        got, reference, periods = activity(path)
        print(f"| activity, {name} ({periods} periods) | get_activity {got:.2f} s | every event read {reference:.2f} s "
              f"| {reference / got:.1f}x faster |")  # fmt: skip
    for name, path in (("container", container), ("classic", classic)):
        frame, seek = frames_after_seeks(path)
        print(f"| frame after a paused seek, {name} (median of 10) | get_camera_frame {frame * 1e3:.1f} ms "
              f"| playback_seek {seek * 1e3:.1f} ms | {frame / seek:.2f}x the seek |")  # fmt: skip
    rate, stream_rate, events = decoding(container)
    print(f"| decoding in Chromium ({events} events, 1 min) | {rate:,.0f} events/s | the stream at x1: "
          f"{stream_rate:,.0f} events/s | {rate / stream_rate:,.0f}x real time |")  # fmt: skip
    print(f"\nload average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
