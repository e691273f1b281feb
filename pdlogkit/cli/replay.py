"""`pdlogkit replay` and the original `pdserver --replay`: serve a log as a fake gateway."""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import select
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..boards import shipped_boards
from ..events import KINDS
from ..replay.clients import DEFAULT_CLIENT_BUFFER
from ..replay.pages import printable

if TYPE_CHECKING:
    from ..replay.server import ReplayServer

from .common import BAD_INPUT, USAGE, StatusLine, fmt_duration, run

WS_PORT = 7001
HTTP_PORT = 7000
#: The board the original `pdserver` answers when given none.
PDSERVER_BOARD = "misl_v4"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `replay`."""
    p = subparsers.add_parser(
        "replay",
        help="serve a log as a fake gateway, with its original timing",
        description="Replay a log as a fake PurpleDrop gateway: its events on a websocket, with their original "
        "timing, and the read-only control API (JSON-RPC on POST /rpc) answering from the replayed state. "
        "Plays from launch, like the gateway, on one timeline shared by all clients (--wait: from the first "
        "client; --per-client: one each). Stop with Ctrl-C; on a terminal, space pauses and resumes.",
    )
    p.add_argument("log", metavar="LOG", help="the log to replay")
    p.add_argument(
        "--board",
        metavar="NAME",
        help="board definition get_board_definition answers: a path, a name in ~/.config/purpledrop/boards, "
        f"or a shipped one ({', '.join(shipped_boards())}); default: the log's own, if it holds one",
    )
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
    p.add_argument("--wait", action="store_true", help="start playing when the first client connects")
    p.add_argument("--no-wait", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old scripts
    p.add_argument("--per-client", action="store_true", help="every client gets its own playback from --start")
    p.add_argument("--web-ui", metavar="PATH", help="serve this web app at GET / (a folder, or a .tar.gz of one)")
    p.add_argument(
        "--client-buffer",
        type=float,
        default=DEFAULT_CLIENT_BUFFER / 1e6,
        metavar="MB",
        help=f"disconnect a client with more than MB megabytes waiting (default {DEFAULT_CLIENT_BUFFER / 1e6:g})",
    )
    p.set_defaults(func=_replay)


def _replay(args: argparse.Namespace) -> int:
    if not math.isfinite(args.client_buffer) or args.client_buffer <= 0:
        raise ValueError(f"--client-buffer must be a number of megabytes > 0, not {args.client_buffer:g}")
    from ..replay.server import ReplayServer  # aiohttp comes with it: imported when a replay is asked for

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
        wait=args.wait,
        paused=args.paused,
        board=args.board,
        web_ui=args.web_ui,
        client_buffer=max(1, round(args.client_buffer * 1e6)),
    )
    return serve(server)


def serve(server: ReplayServer, ready: Callable[[ReplayServer], None] | None = None) -> int:
    """Run `server` until Ctrl-C or SIGTERM, with a status line on a terminal; `ready` is called once it
    listens (after its addresses are printed)."""
    stop = threading.Event()
    error = None
    with _terminate_on(signal.SIGTERM, stop), server:
        line = StatusLine()
        # Keys are read before the addresses are printed: a key pressed as soon as they show is not lost.
        with line, _space_toggles(server, line.enabled):
            print(f"replaying {printable(server.log.path) if server.log else ''}", file=sys.stderr)
            print(f"events: {server.ws_url}  control: {server.rpc_url}", flush=True)
            if ready is not None:
                ready(server)
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

    tty.setcbreak(fd, termios.TCSANOW)  # TCSANOW: keys typed already are kept, not flushed
    thread = threading.Thread(target=read_keys, name="pdlogkit-replay-keys", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(1.0)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def pdserver_main(argv: Sequence[str] | None = None) -> int:
    """The original `pdserver --replay LOGFILE [--board NAME] [-v]`, as a replay on the usual ports."""
    parser = argparse.ArgumentParser(
        prog="pdserver", description="Replay a log as a fake PurpleDrop gateway (on ports 7000 and 7001)."
    )
    parser.add_argument("--replay", metavar="LOGFILE", help="the log to replay")
    parser.add_argument(
        "--board",
        metavar="NAME",
        help=f"board name or path to a board definition JSON file (default: the log's own, else {PDSERVER_BOARD})",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="-v for INFO, -vv for DEBUG")
    parser.add_argument("--ws-port", type=int, default=WS_PORT, help=f"event stream port (default {WS_PORT}; 0: free)")
    parser.add_argument("--http-port", type=int, default=HTTP_PORT, help=f"control API port (default {HTTP_PORT})")
    parser.add_argument(
        "--ecal", metavar="NAME", help="electrode calibration: not needed, a log holds calibrated values"
    )
    parser.add_argument("--sim", nargs="?", const="", metavar="PINS", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sim is not None:
        print(
            "pdserver: --sim cannot be served: this pdserver replays logs and has no simulated device", file=sys.stderr
        )
        return USAGE
    if args.replay is None:
        print("pdserver: give --replay LOGFILE: this pdserver replays logs and connects to no device", file=sys.stderr)
        return USAGE
    if args.ecal is not None:
        print("pdserver: --ecal ignored: the log holds calibrated values already", file=sys.stderr)
    if args.verbose:
        logging.basicConfig(
            format="%(asctime)s.%(msecs)03d %(levelname)s (%(name)s): %(message)s",
            datefmt="%H:%M:%S",
            level=logging.INFO if args.verbose == 1 else logging.DEBUG,
        )
    from ..replay.server import ReplayServer

    return run(
        lambda _: serve(
            ReplayServer(
                args.replay,
                ws_port=args.ws_port,
                http_port=args.http_port,
                board=args.board,
                fallback_board=PDSERVER_BOARD,
            )
        ),
        args,
        prog="pdserver",
    )
