"""`pdlogkit view`: watch a log in the browser: a replay on free ports and its viewer page."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import webbrowser
from typing import TYPE_CHECKING

from ..boards import shipped_boards

if TYPE_CHECKING:
    from ..replay.server import ReplayServer

from .common import port, seconds
from .replay import serve


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `view`."""
    p = subparsers.add_parser(
        "view",
        help="watch a log in the browser: camera, board, sensors and a seek bar in sync",
        description="Replay LOG on free ports of 127.0.0.1 and open the viewer page in the browser: the camera "
        "frame, the electrode board with the driven electrodes and the scan capacitance, scrolling plots of the "
        "sensors, and a seek bar with the log's activity and markers. Playback starts when the page connects. "
        "Stop with Ctrl-C.",
    )
    p.add_argument("log", metavar="LOG", help="the log to watch")
    p.add_argument(
        "--board",
        metavar="NAME",
        help="board definition to draw: a path, a name in ~/.config/purpledrop/boards, or a shipped one "
        f"({', '.join(shipped_boards())}); default: the log's own, if it holds one",
    )
    p.add_argument("--no-browser", action="store_true", help="print the page's address, open no browser")
    p.add_argument("--speed", type=float, default=1.0, metavar="X", help="speed factor (default 1)")
    p.add_argument("--start", type=seconds, default=0.0, metavar="S", help="begin S seconds after the log start")
    p.add_argument("--paused", action="store_true", help="start paused (press space in the page to play)")
    p.add_argument("--loop", action="store_true", help="start over at the end")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=port, default=0, help="the page's port (default: a free one)")
    p.add_argument("--ws-port", type=port, default=0, help="the event stream's port (default: a free one)")
    p.set_defaults(func=_view)


def _view(args: argparse.Namespace) -> int:
    from ..replay.server import ReplayServer  # aiohttp comes with it: imported when a replay is asked for

    server = ReplayServer(
        args.log,
        host=args.host,
        http_port=args.port,
        ws_port=args.ws_port,
        speed=args.speed,
        start=args.start,
        loop=args.loop,
        paused=args.paused,
        wait=True,
        board=args.board,
    )

    def ready(server: ReplayServer) -> None:
        url = page_url(server)
        print(f"viewer: {url}", flush=True)
        if not args.no_browser:
            open_browser(url)

    return serve(server, ready)


def page_url(server: ReplayServer) -> str:
    """The viewer's address (a wildcard bind is reached on the loopback address)."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(server.host, server.host)
    return f"http://{f'[{host}]' if ':' in host else host}:{server.http_port}/"


def open_browser(url: str) -> None:
    """Open `url` in the user's browser, in a thread (a browser command may wait until it is closed). Where
    there is no display and no $BROWSER, nothing is opened: the console browsers Python would pick there take
    over the terminal."""
    if not (os.environ.get("BROWSER") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and (
        sys.platform not in ("darwin", "win32")
    ):
        print(f"no display to open a browser on: open {url} in a browser", file=sys.stderr)
        return

    def run() -> None:
        try:
            opened = webbrowser.open(url)
        except webbrowser.Error:
            opened = False
        if not opened:
            print(f"no browser could be opened: open {url} in a browser", file=sys.stderr)

    threading.Thread(target=run, name="pdlogkit-view-browser", daemon=True).start()
