"""`pdlogkit replay` and the original `pdserver --replay`: serve a log as a fake gateway."""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from ..events import KINDS
from ..replay import DEFAULT_CLIENT_BUFFER, ReplayServer
from .common import BAD_INPUT, StatusLine, fmt_duration, run

WS_PORT = 7001
HTTP_PORT = 7000


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `replay`."""
    p = subparsers.add_parser(
        "replay",
        help="serve a log as a fake gateway, with its original timing",
        description="Replay a log as a fake PurpleDrop gateway: its events on a websocket, with their original "
        "timing, and the read-only control API (JSON-RPC on POST /rpc) answering from the replayed state. "
        "All clients share one timeline that starts when the first one connects, unless --per-client. "
        "Stop with Ctrl-C; on a terminal, space pauses and resumes.",
    )
    p.add_argument("log", metavar="LOG", help="the log to replay")
    p.add_argument("--board", metavar="FILE.json", help="board definition answered by get_board_definition")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--ws-port", type=int, default=WS_PORT, help=f"event stream port (default {WS_PORT}; 0: free)")
    p.add_argument("--http-port", type=int, default=HTTP_PORT, help=f"control API port (default {HTTP_PORT}; 0: free)")
    p.add_argument("--speed", type=float, default=1.0, metavar="X", help="speed factor (default 1; 0: flat out)")
    p.add_argument("--loop", action="store_true", help="start over at the end, forever")
    p.add_argument("--start", type=float, default=0.0, metavar="S", help="play from S seconds after the log start")
    p.add_argument("--end", type=float, metavar="S", help="stop at S seconds after the log start")
    p.add_argument("--kinds", nargs="+", choices=KINDS, metavar="KIND", help="send only these kinds")
    p.add_argument("--exclude", nargs="+", choices=KINDS, metavar="KIND", help="do not send these kinds")
    p.add_argument("--paused", action="store_true", help="start paused (resume with playback_enable or space)")
    p.add_argument("--no-wait", action="store_true", help="start playing at once, not when the first client connects")
    p.add_argument("--per-client", action="store_true", help="every client gets its own playback from --start")
    p.add_argument(
        "--client-buffer",
        type=float,
        default=DEFAULT_CLIENT_BUFFER / 1e6,
        metavar="MB",
        help=f"disconnect a client with more than MB megabytes waiting (default {DEFAULT_CLIENT_BUFFER / 1e6:g})",
    )
    p.set_defaults(func=_replay)


def _replay(args: argparse.Namespace) -> int:
    if args.client_buffer <= 0:
        raise ValueError("--client-buffer must be > 0")
    server = ReplayServer(
        args.log,
        host=args.host,
        ws_port=args.ws_port,
        http_port=args.http_port,
        speed=args.speed,
        per_client=args.per_client,
        loop=args.loop,
        start=args.start,
        end=args.end,
        kinds=args.kinds,
        exclude=args.exclude,
        wait=not args.no_wait,
        paused=args.paused,
        board=args.board,
        client_buffer=round(args.client_buffer * 1e6),
    )
    return serve(server)


def serve(server: ReplayServer) -> int:
    """Run `server` until Ctrl-C or SIGTERM, with a status line on a terminal."""
    stop = threading.Event()
    error = None
    with _terminate_on(signal.SIGTERM, stop), server:
        print(f"replaying {server.log.path if server.log else ''}", file=sys.stderr)
        print(f"events: {server.ws_url}  control: {server.rpc_url}", flush=True)
        line = StatusLine()
        with line, _space_toggles(server, line.enabled):
            try:
                while not stop.wait(0.125):
                    status = server.status()
                    error = status["error"]
                    if error:  # the log cannot be played further: clients were told (1011)
                        break
                    line.show(_status_text(status))
            except KeyboardInterrupt:
                pass
        status = server.status()
    if error:
        print(f"pdlogkit replay: cannot replay the log: {error}", file=sys.stderr)
        return BAD_INPUT
    print(
        f"sent {status['events_sent']} events to {server.stats.clients_served} client(s); "
        f"{status['slow_clients_dropped']} too slow and disconnected",
        file=sys.stderr,
    )
    return 0


def _status_text(status: dict[str, Any]) -> str:
    duration = status["duration"]
    frac = status["time"] / duration if duration else 1.0
    bar = "#" * int(min(1.0, frac) * 20)
    state = (
        "waiting for a client"
        if status["waiting"]
        else "finished"
        if status["finished"]
        else "paused"
        if status["paused"]
        else "playing"
    )
    return (
        f"[{bar:<20}] {fmt_duration(status['time'])} / {fmt_duration(duration)}  x{status['speed']:g}  "
        f"{status['clients']} client(s)  {state}"
    )


@contextlib.contextmanager
def _terminate_on(signum: int, stop: threading.Event) -> Iterator[None]:
    """SIGTERM ends the replay like Ctrl-C (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signum, lambda *_: stop.set())
    try:
        yield
    finally:
        signal.signal(signum, previous)


@contextlib.contextmanager
def _space_toggles(server: ReplayServer, enabled: bool) -> Iterator[None]:
    """On a terminal, space pauses and resumes; the terminal is restored afterwards."""
    if not enabled or not sys.stdin.isatty() or os.name != "posix":
        yield
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    done = threading.Event()

    def read_keys() -> None:
        while not done.is_set():
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready and os.read(fd, 1) == b" ":
                server.set_playing(server.status()["paused"])

    tty.setcbreak(fd)
    thread = threading.Thread(target=read_keys, name="pdlogkit-replay-keys", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(1.0)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def pdserver_main(argv: Sequence[str] | None = None) -> int:
    """The original `pdserver --replay LOGFILE --board NAME`, as a replay on the usual ports."""
    parser = argparse.ArgumentParser(prog="pdserver", description="Replay a log as a fake PurpleDrop gateway.")
    parser.add_argument("--replay", metavar="LOGFILE", required=True, help="the log to replay")
    parser.add_argument("--board", metavar="NAME", help="board definition: a JSON file, or NAME.json")
    args = parser.parse_args(argv)
    board = args.board
    if board is not None and not os.path.exists(board) and os.path.exists(board + ".json"):
        board = board + ".json"
    return run(
        lambda _: serve(ReplayServer(args.replay, ws_port=WS_PORT, http_port=HTTP_PORT, board=board)),
        args,
        prog="pdserver",
    )
