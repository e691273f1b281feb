"""Benchmark the replay server's timing, quiet and under hostile clients, against a naive replay in the same run.

Timing: a realistic synthetic log (camera 1024x768 at 10 frames/s, hardware sensor
rates) replayed at speed 1 to 10 websocket clients living in another process. For
every event, lateness = actual time - scheduled time (anchor + position / speed), at
the server's send and at the clients' arrival; "last" is the lateness of the last
event (drift). Three runs, printed side by side:

- quiet: the 10 clients alone;
- hostile: the same 10 clients, and at the same time (from other processes) 20
  stalled clients (handshake, then never read), 20 clients that vanish abruptly a
  third of the way, 300 slowloris HTTP connections (a byte a second), and a stream
  of full JSON-RPC batches (the largest allowed) with an oversized body now and then;
- an ideal sender: every payload in memory beforehand, each sent at its anchored time,
  nothing else: the floor of what a Python server and these clients reach here;
- the reference: the naive way (sleep the delta between events), same log and clients.

Throughput (`--throughput`): events/s and MB/s at speed 0 to the same clients,
against the rate the log reads at.

    flock /tmp/pdlogkit-bench.lock python tools/bench_replay.py [--minutes 2] [--clients 10]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from array import array
from pathlib import Path

from pdlogkit import open_log
from pdlogkit.events import Event
from pdlogkit.replay import ReplayServer
from pdlogkit.replay.schedule import positions
from pdlogkit.synth import write_log
from pdlogkit.timeline import event_time_ns

DATA = Path("/work/bench-data")


def played(path: Path, seconds: float) -> list[tuple[int, Event]]:
    """The events a replay with `end=seconds` sends, with their positions (ns from the first timed event)."""
    with open_log(path) as log:
        origin = next(t for t in map(event_time_ns, log.events()) if t is not None)
        timeline = positions(log.events(), origin)
        return list(itertools.takewhile(lambda item: item[0] <= seconds * 1e9, timeline))


# --- the clients' process -------------------------------------------------------


async def _clients(url: str, count: int, expected: int, out: str, aborting: int) -> None:
    """`count` clients recording arrival times; the first `aborting` drop their connection a third of the way."""
    from websockets.asyncio.client import connect

    arrivals = [array("d") for _ in range(count)]
    sizes = [0] * count

    async def one(i: int) -> None:
        async with connect(url, max_size=None, max_queue=None) as ws:
            while len(arrivals[i]) < expected:
                payload = await ws.recv()
                arrivals[i].append(time.monotonic())
                sizes[i] += len(payload)
                if i < aborting and len(arrivals[i]) == expected // 3:
                    ws.transport.abort()  # vanish without a closing handshake
                    return

    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    await asyncio.gather(*tasks)
    with open(out, "wb") as f:
        for a in arrivals[aborting:]:
            a.tofile(f)
    print(json.dumps({"bytes": sizes}), flush=True)


def client_main(argv: list[str]) -> None:
    url, count, expected, out, aborting = argv[0], int(argv[1]), int(argv[2]), argv[3], int(argv[4])
    asyncio.run(_clients(url, count, expected, out, aborting))


#: Processes the clients are spread over (`--client-processes`).
CLIENT_PROCESSES = [1]


class ClientProcesses:
    """The clients, spread evenly over `CLIENT_PROCESSES` processes (each writes its own arrivals file)."""

    def __init__(self, url: str, count: int, expected: int, out: Path, aborting: int) -> None:
        n = CLIENT_PROCESSES[0]
        self.procs = []
        for i in range(n):
            share = count // n + (i < count % n)
            gone = aborting // n + (i < aborting % n)
            command = [sys.executable, __file__, "--client", url, str(share), str(expected), f"{out}.{i}", str(gone)]
            self.procs.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))

    def communicate(self, input: None = None, timeout: float | None = None) -> None:
        for proc in self.procs:
            proc.communicate(timeout=timeout)

    def kill(self) -> None:
        for proc in self.procs:
            proc.kill()

    def wait(self) -> None:
        for proc in self.procs:
            proc.wait()


def start_clients(url: str, count: int, expected: int, out: Path, aborting: int = 0) -> ClientProcesses:
    return ClientProcesses(url, count, expected, out, aborting)


# --- the hostile mix's process ----------------------------------------------------

HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def hostile_main(argv: list[str]) -> None:
    """Stalled websocket clients, slowloris HTTP connections and a stream of full RPC batches, for `seconds`."""
    import http.client
    import socket
    import threading

    ws_port, http_port, seconds = int(argv[0]), int(argv[1]), float(argv[2])
    stalled_count, slowloris_count = int(argv[3]), int(argv[4])
    deadline = time.monotonic() + seconds
    stalled = []
    for _ in range(stalled_count):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", ws_port))
        sock.sendall(HANDSHAKE)  # and never read again
        stalled.append(sock)
    slow = []
    for _ in range(slowloris_count):
        sock = socket.create_connection(("127.0.0.1", http_port))
        sock.sendall(b"POST /rpc HTTP/1.1\r\nHost: x\r\n")
        slow.append(sock)
    print(json.dumps({"ready": True}), flush=True)
    from pdlogkit.replay.http import MAX_BODY
    from pdlogkit.replay.rpc import MAX_BATCH

    methods = ["get_scan_capacitance", "get_electrode_pins", "get_group_capacitance", "get_device_info"]
    batch = json.dumps(
        [{"jsonrpc": "2.0", "method": methods[k % len(methods)], "params": [], "id": k} for k in range(MAX_BATCH)]
    )
    counts = {"batches": 0, "refused": 0, "slowloris_reconnects": 0}

    def batches() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=30)
        k = 0
        while time.monotonic() < deadline:
            k += 1
            body = batch if k % 20 else " " * (MAX_BODY * 16)  # now and then a body far over the limit
            try:
                conn.request("POST", "/rpc", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                counts["batches" if response.status == 200 else "refused"] += 1
                if response.will_close:
                    conn.close()
            except OSError:
                conn.close()

    workers = [threading.Thread(target=batches, daemon=True) for _ in range(2)]
    for worker in workers:
        worker.start()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        for i, sock in enumerate(slow):
            try:
                sock.sendall(b"X")  # a header that never ends
            except OSError:
                counts["slowloris_reconnects"] += 1
                sock.close()
                slow[i] = socket.create_connection(("127.0.0.1", http_port))
                slow[i].sendall(b"POST /rpc HTTP/1.1\r\nHost: x\r\n")
    for worker in workers:
        worker.join(30)
    for sock in stalled + slow:
        sock.close()
    print(json.dumps(counts), flush=True)


def start_hostile(ws_port: int, http_port: int, seconds: float, stalled: int, slowloris: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--hostile",
            str(ws_port),
            str(http_port),
            str(seconds),
            str(stalled),
            str(slowloris),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # ready: every stalled and slowloris connection is open
    return proc


def read_arrivals(out: Path, count: int, expected: int) -> list[array]:
    """Arrival times of the clients that stayed to the end, from every client process's file."""
    data = array("d")
    for i in range(CLIENT_PROCESSES[0]):
        with open(f"{out}.{i}", "rb") as f:
            size = os.fstat(f.fileno()).st_size // data.itemsize
            data.fromfile(f, size)
    assert len(data) == count * expected, (len(data), count, expected)
    return [data[i * expected : (i + 1) * expected] for i in range(count)]


# --- measuring ------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def figures(lateness: list[float]) -> dict[str, float]:
    ms = [x * 1e3 for x in lateness]
    return {"p50": statistics.median(ms), "p99": pct(ms, 0.99), "max": max(ms), "last": ms[-1]}


def wait_for_clients(clients: int, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while clients_now() < count:
        if time.monotonic() > deadline:
            raise SystemExit("clients did not connect")
        time.sleep(0.01)


def clients_now() -> int:
    return _CURRENT["clients"]()


_CURRENT: dict = {}


def run_replay_server(path: Path, seconds: float, clients: int, expected: list[float], hostile: bool = False) -> dict:
    """pdlogkit's ReplayServer at speed 1: lateness at the server and at the healthy clients.

    `hostile`: 20 clients among them vanish a third of the way, and another process runs
    20 stalled clients, 300 slowloris connections and a stream of full RPC batches.
    """
    out = DATA / "replay-arrivals.bin"
    aborting = 20 if hostile else 0
    with ReplayServer(path, speed=1.0, end=seconds, paused=True) as server:
        _CURRENT["clients"] = lambda: server.clients
        attack = start_hostile(server.ws_port, server.http_port, seconds + 5, 20, 300) if hostile else None
        total = clients + aborting + (20 if hostile else 0)
        proc = start_clients(server.ws_url, clients + aborting, len(expected), out, aborting)
        wait_for_clients(clients, total)
        server.set_playing(True)
        anchor, anchor_pos, speed = server.schedule()
        proc.communicate(timeout=seconds * 2 + 60)
        send = server.lateness()
        status = server.status()
        counts = json.loads(attack.communicate(timeout=120)[0].splitlines()[-1]) if attack is not None else {}
    due = [anchor + (p - anchor_pos) / speed for p in expected]
    arrivals = read_arrivals(out, clients, len(expected))
    at_clients = [a - d for client in arrivals for a, d in zip(client, due, strict=True)]
    last = max(client[-1] for client in arrivals) - due[-1]
    result = {"send": figures(send), "clients": figures(at_clients), "dropped": status["slow_clients_dropped"]}
    result["clients"]["last"] = last * 1e3
    result["attack"] = counts
    return result


async def _naive(
    path: Path, seconds: float, clients: int, expected_count: int, out: Path, ideal: bool = False
) -> tuple[list, float, list]:
    """The naive replay: sleep the delta between events (what drifts), same log, same clients.

    `ideal`: instead, every payload in memory beforehand and each sent at its anchored time (a short
    spin before it), nothing else: the floor of what a Python server and these clients can do here.
    """
    from websockets.asyncio.server import broadcast, serve

    conns: set = set()

    async def handler(conn) -> None:
        conns.add(conn)
        try:
            await conn.wait_closed()
        finally:
            conns.discard(conn)

    events = [(p / 1e9, e.payload) for p, e in played(path, seconds)]
    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        proc = await asyncio.to_thread(start_clients, f"ws://127.0.0.1:{port}", clients, expected_count, out)
        deadline = time.monotonic() + 30
        while len(conns) < clients:
            if time.monotonic() > deadline:
                raise SystemExit("clients did not connect")
            await asyncio.sleep(0.01)
        anchor = time.monotonic()
        send = []
        previous = 0.0
        for pos, payload in events:
            if ideal:
                wait = anchor + pos - time.monotonic()
                if wait > 0.0015:
                    await asyncio.sleep(wait - 0.0015)
                while time.monotonic() < anchor + pos:
                    await asyncio.sleep(0)
            elif pos > previous:
                await asyncio.sleep(pos - previous)
            previous = pos
            send.append(time.monotonic() - (anchor + pos))
            broadcast(conns, payload)
        await asyncio.to_thread(proc.communicate, None, seconds + 60)
    return send, anchor, [p for p, _ in events]


def run_naive(path: Path, seconds: float, clients: int, expected: list[float], ideal: bool = False) -> dict:
    out = DATA / "naive-arrivals.bin"
    send, anchor, pos = asyncio.run(_naive(path, seconds, clients, len(expected), out, ideal))
    due = [anchor + p for p in pos]
    arrivals = read_arrivals(out, clients, len(expected))
    at_clients = [a - d for client in arrivals for a, d in zip(client, due, strict=True)]
    result = {"send": figures(send), "clients": figures(at_clients), "dropped": 0}
    result["clients"]["last"] = (max(client[-1] for client in arrivals) - due[-1]) * 1e3
    return result


def run_throughput(path: Path, seconds: float, clients: int) -> dict:
    """Speed 0: events/s and MB/s delivered to the clients, and the log's own read rate."""
    with open_log(path) as log:
        t = time.perf_counter()
        count = size = 0
        for event in log.events(end=seconds):
            count += 1
            size += len(event.payload)
        read_s = time.perf_counter() - t
    out = DATA / "speed0-arrivals.bin"
    with ReplayServer(path, speed=0, end=seconds, paused=True) as server:
        _CURRENT["clients"] = lambda: server.clients
        proc = start_clients(server.ws_url, clients, count, out)
        wait_for_clients(clients, clients)
        t = time.perf_counter()
        server.set_playing(True)
        proc.communicate(timeout=600)
        serve_s = time.perf_counter() - t
    return {
        "events": count,
        "read": (count / read_s, size / read_s / 1e6),
        "serve": (count / serve_s, size / serve_s / 1e6, clients * size / serve_s / 1e6),
    }


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def run_memory(seconds: float, clients: int) -> None:
    """Loop a 10 s log at speed 0 to clients for `seconds`: the server's memory should stay flat."""
    path = DATA / "replay-loop-10s.bin"
    if not path.exists():
        write_log(path, 10.0, seed=8, frame_size=(640, 480))
    out = DATA / "memory-arrivals.bin"
    with ReplayServer(path, speed=0, loop=True, paused=True) as server:
        _CURRENT["clients"] = lambda: server.clients
        proc = start_clients(server.ws_url, clients, 1 << 40, out)
        wait_for_clients(clients, clients)
        server.set_playing(True)
        print("| after s | loops | events sent | RSS MB |")
        print("|---:|---:|---:|---:|")
        t0 = time.monotonic()
        for mark in (5, seconds / 4, seconds / 2, seconds):
            time.sleep(max(0.0, t0 + mark - time.monotonic()))
            status = server.status()
            print(f"| {mark:.0f} | {status['loops']} | {status['events_sent']:,} | {rss_mb():.1f} |", flush=True)
        proc.kill()
        proc.wait()


def run_http(path: Path, requests: int = 1000, threads: int = 20) -> dict:
    """The control API under parallel load (fresh connections) and one keep-alive connection against fresh ones."""
    import concurrent.futures
    import http.client
    import urllib.request

    body = json.dumps({"jsonrpc": "2.0", "method": "get_scan_capacitance", "params": [], "id": 1}).encode()

    def fresh(url: str) -> float | None:
        t = time.perf_counter()
        try:
            request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
        except OSError:
            return None
        return time.perf_counter() - t

    with ReplayServer(path, speed=1.0) as server:
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            parallel = list(pool.map(fresh, [server.rpc_url] * requests))
        sequential = [fresh(server.rpc_url) for _ in range(200)]
        conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
        kept = []
        for _ in range(200):
            t = time.perf_counter()
            conn.request("POST", "/rpc", body, {"Content-Type": "application/json"})
            conn.getresponse().read()
            kept.append(time.perf_counter() - t)
        conn.close()
    ok = [x * 1e3 for x in parallel if x is not None]
    return {
        "failed": len(parallel) - len(ok),
        "parallel": (statistics.median(ok), pct(ok, 0.99)),
        "fresh": statistics.mean(x * 1e3 for x in sequential if x is not None),
        "keepalive": statistics.mean(x * 1e3 for x in kept),
    }


def print_http(path: Path) -> None:
    print("control API under load ...", file=sys.stderr)
    h = run_http(path)
    print("\nControl API (get_scan_capacitance while the log plays at speed 1)\n")
    print("| what | result |")
    print("|---|---|")
    parallel = f"{h['failed']} failed; p50 {h['parallel'][0]:.2f} ms, p99 {h['parallel'][1]:.2f} ms"
    print(f"| 1,000 requests from 20 threads, fresh connections | {parallel} |")
    print(f"| one after another, fresh connections | {h['fresh']:.2f} ms each |")
    print(f"| one after another, one keep-alive connection | {h['keepalive']:.2f} ms each |")


TARGETS = {"quiet": (2.0, 10.0), "hostile": (10.0, None)}  # clients' arrival: p99, max (ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="log length played at speed 1 (default 2)")
    parser.add_argument("--reference-minutes", type=float, help="length the naive reference plays (default: same)")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--client-processes", type=int, default=1, help="processes the clients are spread over")
    parser.add_argument("--throughput", action="store_true", help="also measure speed 0 throughput")
    parser.add_argument("--throughput-seconds", type=float, default=60.0, help="log seconds sent at speed 0")
    parser.add_argument("--no-camera", action="store_true", help="a log without camera frames")
    parser.add_argument("--memory", type=float, metavar="S", help="instead: loop a short log for S s, print RSS")
    args = parser.parse_args()
    CLIENT_PROCESSES[0] = args.client_processes
    DATA.mkdir(parents=True, exist_ok=True)
    if args.memory:
        run_memory(args.memory, args.clients)
        return
    seconds = args.minutes * 60
    path = DATA / f"replay-{args.minutes:g}min{'-nocamera' if args.no_camera else ''}.bin"
    if not path.exists():
        print(f"writing {path} ...", file=sys.stderr)
        write_log(path, seconds + 1, seed=7, camera=not args.no_camera)
    expected = [p / 1e9 for p, _ in played(path, seconds)]
    ref_seconds = (args.reference_minutes or args.minutes) * 60
    ref_expected = [p / 1e9 for p, _ in played(path, ref_seconds)]
    print(
        f"log: {path.name}, {len(expected)} events in {seconds:g} s, {os.path.getsize(path) / 1e6:.0f} MB file; "
        f"{args.clients} clients in {args.client_processes} other process(es); cores: {os.cpu_count()}",
        file=sys.stderr,
    )
    runs = {}
    loads = {}
    for name in ("quiet", "hostile"):
        print(f"ReplayServer, {name}, at speed 1 for {seconds:g} s ...", file=sys.stderr)
        runs[name] = run_replay_server(path, seconds, args.clients, expected, hostile=name == "hostile")
        loads[name] = os.getloadavg()[1]
    print(f"ideal sender (payloads in memory, anchored) for {seconds:g} s ...", file=sys.stderr)
    ideal = run_naive(path, seconds, args.clients, expected, ideal=True)
    loads["ideal"] = os.getloadavg()[1]
    print(f"naive reference (sleep the delta) for {ref_seconds:g} s ...", file=sys.stderr)
    reference = run_naive(path, ref_seconds, args.clients, ref_expected)
    loads["reference"] = os.getloadavg()[1]

    print(f"\nTiming at speed 1, {args.clients} healthy clients (lateness vs schedule, ms; 'last' = drift at the end)")
    print(
        "5-minute load average after each run (2 cores; above ~1.5 other work shared the machine): "
        + ", ".join(f"{name} {load:.2f}" for name, load in loads.items())
        + "\n"
    )
    print("| replay | measured at | p50 | p99 | max | last | target (arrival p99 / max) |")
    print("|---|---|---:|---:|---:|---:|---|")
    for name, result in runs.items():
        p99_target, max_target = TARGETS[name]
        met = result["clients"]["p99"] <= p99_target and (max_target is None or result["clients"]["max"] <= max_target)
        target = (
            f"<= {p99_target:g}" + (f" / <= {max_target:g}" if max_target else "") + (" met" if met else " **not met**")
        )
        timing_rows(f"ReplayServer, {name}", result, ["", target])
    timing_rows("ideal sender: payloads in memory, nothing else (floor)", ideal, ["", ""])
    timing_rows(f"naive: sleep the delta (reference, {ref_seconds / 60:g} min)", reference, ["", ""])
    hostile = runs["hostile"]
    print(
        f"\nhostile run: {hostile['dropped']} stalled clients dropped (1008); "
        f"{hostile['attack'].get('batches', 0)} batches answered, {hostile['attack'].get('refused', 0)} oversized "
        f"bodies refused; quiet run: {runs['quiet']['dropped']} dropped"
    )
    print_http(path)
    if args.throughput:
        print_throughput(path, args.throughput_seconds, args.clients)


def timing_rows(name: str, result: dict, targets: list[str]) -> None:
    for where, target in zip(("send", "clients"), targets, strict=True):
        f = result[where]
        print(
            f"| {name} | {'send' if where == 'send' else 'clients'} | {f['p50']:.3f} | {f['p99']:.3f} "
            f"| {f['max']:.3f} | {f['last']:.3f} | {target} |",
            flush=True,
        )


def print_throughput(path: Path, seconds: float, clients: int) -> None:
    print("throughput at speed 0 ...", file=sys.stderr)
    tp = run_throughput(path, seconds, clients)
    events_s, mb_s, total_mb_s = tp["serve"]
    read_events_s, read_mb_s = tp["read"]
    print(f"\nThroughput at speed 0, {clients} clients, first {seconds:g} s of the log\n")
    print("| what | events/s | MB/s |")
    print("|---|---:|---:|")
    print(f"| reading the log (reference) | {read_events_s:,.0f} | {read_mb_s:,.1f} |")
    print(f"| ReplayServer --speed 0, per client | {events_s:,.0f} | {mb_s:,.1f} |")
    print(f"| ReplayServer --speed 0, all {clients} clients together | {events_s * clients:,.0f} | {total_mb_s:,.1f} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "--hostile":
        hostile_main(sys.argv[2:])
    else:
        main()
