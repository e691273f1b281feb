"""`ReplayServer`: a fake gateway that re-emits a log over a websocket with its original timing.

The event stream is a `websockets` asyncio server; the control API is the standard
library's `ThreadingHTTPServer` in a background thread, whose requests are bridged
into the event loop thread-safely. Timing, state and JSON-RPC live in the pure
modules next to this one, the playback engine in `playback.py`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import html
import json
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .._loop import BackgroundLoop, LoopService
from ..errors import ReplayError
from ..events import check_kinds
from ..log import Log, open_log
from .playback import Playback, ReplayStats, Sink, Source, check_window
from .rpc import UNAVAILABLE, Dispatcher, RpcError
from .schedule import check_speed
from .state import DeviceState

#: Bytes a client may have waiting in its send buffer before it is disconnected as too slow.
DEFAULT_CLIENT_BUFFER = 8 * 1024 * 1024
#: Close code and reason sent to a client that overflows its buffer.
SLOW_CLIENT_CODE = 1008
#: Close code sent to clients when the log cannot be read further (corrupt, vanished).
LOG_ERROR_CODE = 1011
#: Seconds the control API waits on a client's socket before giving up on a request.
REQUEST_TIMEOUT = 10.0
#: Largest request body the control API accepts.
MAX_REQUEST = 1 << 20


def load_board(board: str | os.PathLike[str] | dict[str, Any] | None) -> dict[str, Any] | None:
    """A board definition: a dict as given, or loaded from a JSON file (ReplayError if unreadable)."""
    if board is None or isinstance(board, dict):
        return board
    path = os.fspath(board)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise ReplayError(f"cannot read board definition {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ReplayError(f"board definition {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ReplayError(f"board definition {path} is not a JSON object")
    return data


class ReplayServer(LoopService):
    """A fake gateway replaying a log: the event stream on a websocket, the control API over HTTP.

    Binds 127.0.0.1 on free ports unless told otherwise. Use it as an async context
    manager in async code, or as a plain one (it then runs in a background thread).

        with ReplayServer("run.pdlz", speed=10, per_client=True) as server:
            client = MyDashboard(server.ws_url, server.rpc_url)

    By default all clients share one timeline (like the real gateway), which starts
    when the first client connects (`wait=False`: at once; `paused=True`: on
    `playback_enable(true)`). With `per_client=True` every client gets its own
    playback from `start`. Control methods are thread-safe.
    """

    thread_name = "pdlogkit-replay"
    start_timeout = 600.0  # opening a large log without an index reads it once

    def __init__(
        self,
        log: Log | str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        ws_port: int = 0,
        http_port: int = 0,
        speed: float = 1.0,
        per_client: bool = False,
        loop: bool = False,
        start: float = 0.0,
        end: float | None = None,
        kinds: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        wait: bool = True,
        paused: bool = False,
        board: str | os.PathLike[str] | dict[str, Any] | None = None,
        client_buffer: int = DEFAULT_CLIENT_BUFFER,
        close_timeout: float = 2.0,
    ) -> None:
        self.speed = check_speed(speed)
        if client_buffer <= 0:
            raise ValueError(f"client_buffer must be > 0 bytes, not {client_buffer}")
        check_kinds(kinds, "kinds")  # bad options fail here, before anything is opened
        check_kinds(exclude, "exclude")
        check_window(start, end)
        self.host = host
        self.ws_port = ws_port
        self.http_port = http_port
        self.per_client = per_client
        self.loop = loop
        self.client_buffer = client_buffer
        self.close_timeout = close_timeout
        self.board = load_board(board)
        self.stats = ReplayStats()
        self._log_arg = log
        self._window = (start, end, kinds, exclude)
        self._wait = wait
        self._playing = not paused
        self._log: Log | None = None
        self._own_log = False
        self._source: Source | None = None
        self._main: Playback | None = None  # broadcast timeline, or the per-client template
        self._playbacks: list[Playback] = []  # per-client timelines, oldest first
        self._clients: set[Any] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ws_server: Any = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._requests: set[socket.socket] = set()  # sockets of the control API's open requests
        self._aloop: asyncio.AbstractEventLoop | None = None
        self._background: BackgroundLoop | None = None
        self.dispatcher = Dispatcher(self._rpc_methods())

    # --- addresses -------------------------------------------------------

    @property
    def ws_url(self) -> str:
        """The websocket URL of the event stream."""
        return f"ws://{self.host}:{self.ws_port}"

    @property
    def http_url(self) -> str:
        """The base URL of the control API's HTTP server."""
        return f"http://{self.host}:{self.http_port}"

    @property
    def rpc_url(self) -> str:
        """The JSON-RPC endpoint (what `pdclient.PdClient` takes)."""
        return f"{self.http_url}/rpc"

    @property
    def log(self) -> Log | None:
        """The log being replayed (once started)."""
        return self._log

    @property
    def clients(self) -> int:
        """How many clients are connected to the event stream."""
        return len(self._clients)

    # --- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        """Open the log, start listening on both ports and get the playback ready."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        from websockets.asyncio.server import serve

        self._aloop = asyncio.get_running_loop()
        await self._aloop.run_in_executor(None, self._open)
        assert self._source is not None
        cursor = await self._aloop.run_in_executor(None, self._source.prepare, self._source.start)
        self._main = Playback(
            self._source,
            Sink(lambda: list(self._clients), self._drop_slow, self.client_buffer),
            self.stats,
            speed=self.speed,
            playing=self._playing,
            waiting=self._wait,
            loop=self.loop,
            on_error=lambda reason: self._close_all(list(self._clients), reason),
        )
        self._main.install(cursor)
        try:
            self._ws_server = await serve(
                self._handle,
                self.host,
                self.ws_port,
                compression=None,
                max_size=1 << 16,
                close_timeout=self.close_timeout,
            )
        except OSError as exc:
            raise ReplayError(f"cannot serve events on {self.host}:{self.ws_port}: {exc.strerror or exc}") from None
        self.ws_port = self._ws_server.sockets[0].getsockname()[1]
        try:
            self._start_http()
        except OSError as exc:
            raise ReplayError(
                f"cannot serve the control API on {self.host}:{self.http_port}: {exc.strerror or exc}"
            ) from None
        if not self.per_client:
            self._spawn(self._main.run())

    def _open(self) -> None:
        if isinstance(self._log_arg, Log):
            self._log = self._log_arg
        else:
            self._log = open_log(self._log_arg)
            self._own_log = True
        start, end, kinds, exclude = self._window
        self._source = Source(self._log, start, end, kinds, exclude)

    async def stop(self) -> None:
        """Stop playing, close every connection and both servers."""
        if self._http is not None:
            http, self._http = self._http, None
            await asyncio.get_running_loop().run_in_executor(None, http.shutdown)
            http.server_close()
            for sock in list(self._requests):  # requests still being read or answered
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()
            self._ws_server = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for playback in [self._main, *self._playbacks]:
            if playback is not None:
                playback.stop()
        if self._own_log and self._log is not None:
            self._log.close()
            self._own_log = False

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- clients ---------------------------------------------------------

    async def _handle(self, conn: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        self.stats.clients_served += 1
        playback = None
        task = None
        if self.per_client:
            assert self._source is not None and self._main is not None
            cursor = await asyncio.get_running_loop().run_in_executor(None, self._source.prepare, self._source.start)
            playback = Playback(
                self._source,
                Sink(lambda: [conn] if conn in self._clients else [], self._drop_slow, self.client_buffer),
                self.stats,
                speed=self._main.schedule.speed,
                playing=self._main.playing,
                waiting=False,
                loop=self.loop,
                on_error=lambda reason: self._close_all([conn], reason),
            )
            playback.install(cursor)
            self._playbacks.append(playback)
        self._clients.add(conn)
        if playback is not None:
            task = self._spawn(playback.run())
        elif self._main is not None and self._main.waiting:
            self._main.begin()
        try:
            async for _ in conn:  # clients send nothing; whatever they send is dropped
                pass
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(conn)
            if playback is not None:
                self._playbacks.remove(playback)
                playback.stop()
            if task is not None:
                task.cancel()

    def _close_all(self, conns: list[Any], reason: str) -> None:
        """Close connections because the log cannot be played further (1011, with the reason)."""
        if self._log is not None:  # the file's name is enough: a close reason holds 123 bytes
            reason = reason.replace(self._log.path, os.path.basename(self._log.path))
        text = f"cannot replay the log: {reason}"
        data = text.encode()
        if len(data) > 123:  # a close reason must fit in a control frame
            text = data[:120].decode(errors="ignore") + "..."
        for conn in conns:
            self._clients.discard(conn)
            self._spawn(conn.close(LOG_ERROR_CODE, text))

    def _drop_slow(self, conn: Any, buffered: int) -> None:
        """Disconnect a client that overflowed its buffer, with a reason it can read."""
        if conn not in self._clients:
            return
        self._clients.discard(conn)
        self.stats.slow_clients_dropped += 1
        reason = f"client too slow: {buffered} bytes waiting, limit {self.client_buffer}"
        self._spawn(conn.close(SLOW_CLIENT_CODE, reason))

    # --- control (thread-safe) -------------------------------------------

    def _timelines(self) -> list[Playback]:
        assert self._main is not None, "the server is not started"
        return [self._main, *self._playbacks]

    def _current(self) -> Playback:
        """The timeline the state methods answer from: the newest client's in per-client mode."""
        timelines = self._timelines()
        return timelines[-1]

    def _on_loop(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call `fn` on the event loop thread and return its result."""
        loop = self._aloop
        if loop is None:
            raise ReplayError("the replay server is not started")
        try:
            if asyncio.get_running_loop() is loop:
                return fn(*args)
        except RuntimeError:
            pass
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(call)
        return future.result(timeout=30)

    def status(self) -> dict[str, Any]:
        """Playback status: time (s from the log start), duration, playing, speed, clients, ..."""
        return self._on_loop(self._status)

    def _status(self) -> dict[str, Any]:
        assert self._source is not None
        playback = self._current()
        return {
            "time": playback.position_ns() / 1e9,
            "duration": self._source.duration,
            "playing": playback.running,
            "paused": not playback.playing,
            "waiting": playback.waiting,
            "finished": playback.finished,
            "error": playback.error,
            "speed": playback.schedule.speed,
            "clients": len(self._clients),
            "per_client": self.per_client,
            "loop": self.loop,
            "start": self._source.start,
            "end": self._source.end_ns / 1e9,
            "events_sent": self.stats.events_sent,
            "bytes_sent": self.stats.bytes_sent,
            "slow_clients_dropped": self.stats.slow_clients_dropped,
            "loops": self.stats.loops,
        }

    def seek(self, seconds: float) -> dict[str, Any]:
        """Continue every timeline from `seconds` after the log start (clamped to the window)."""
        if self._source is None:
            raise ReplayError("the replay server is not started")
        source = self._source
        target = source.clamp(seconds)
        count = self._on_loop(lambda: len(self._timelines()))
        cursors = [source.prepare(target) for _ in range(count)]  # blocking I/O, off the loop

        def install() -> dict[str, Any]:
            for playback in self._timelines():
                if not cursors:  # a client joined meanwhile: it keeps its own start
                    break
                playback.install(cursors.pop())
            for cursor in cursors:
                source.close(cursor)
            return self._status()

        return self._on_loop(install)

    def set_playing(self, playing: bool) -> dict[str, Any]:
        """Pause (False) or resume (True) playback."""
        if not isinstance(playing, bool):
            raise ValueError(f"expected true or false, not {playing!r}")

        source = self._source
        if source is None:
            raise ReplayError("the replay server is not started")
        # Finished timelines start over: their cursors are prepared here, off the loop.
        count = self._on_loop(lambda: sum(p.finished for p in self._timelines())) if playing else 0
        cursors = [source.prepare(source.start) for _ in range(count)]

        def apply() -> dict[str, Any]:
            self._playing = playing
            for playback in self._timelines():
                playback.set_playing(playing, cursors.pop() if playback.finished and cursors else None)
            for cursor in cursors:
                source.close(cursor)
            return self._status()

        return self._on_loop(apply)

    def set_speed(self, speed: float) -> dict[str, Any]:
        """Change the speed factor (0: as fast as the clients take it)."""
        speed = check_speed(speed)

        def apply() -> dict[str, Any]:
            self.speed = speed
            for playback in self._timelines():
                playback.set_speed(speed)
            return self._status()

        return self._on_loop(apply)

    def schedule(self) -> tuple[float, float, float]:
        """The current timeline's anchor: (monotonic s, log position s, speed); position p is due at
        `anchor + (p - position) / speed`. For measuring timing from outside (benchmarks)."""

        def read() -> tuple[float, float, float]:
            schedule = self._current().schedule
            return schedule.anchor, schedule.anchor_pos / 1e9, schedule.speed

        return self._on_loop(read)

    def lateness(self) -> list[float]:
        """A snapshot of the send lateness samples (s), taken on the event loop that adds to them."""
        return self._on_loop(lambda: list(self.stats.lateness))

    def state(self) -> DeviceState:
        """The replayed device state at the current playback time."""
        return self._on_loop(lambda: DeviceState(self._current().state.latest))

    # --- control API -----------------------------------------------------

    def _rpc_methods(self) -> dict[str, Callable[..., Any]]:
        def get_board_definition() -> Any:
            """The board definition given with --board."""
            if self.board is None:
                raise RpcError(UNAVAILABLE, "no board definition: start the replay with a board (--board FILE.json)")
            return self.board

        def get_parameter_definitions() -> Any:
            """Device parameters: none when replaying."""
            return {"parameters": []}

        def get_scan_capacitance() -> Any:
            """Raw and calibrated capacitance of every electrode, from the latest scan_capacitance."""
            return self.state().scan_capacitance()

        def get_bulk_capacitance() -> Any:
            """Calibrated capacitance of every electrode (older name)."""
            return self.state().bulk_capacitance()

        def get_group_capacitance() -> Any:
            """Raw and calibrated capacitance of each group, from the latest group_capacitance."""
            return self.state().group_capacitance()

        def get_active_capacitance() -> Any:
            """Calibrated active capacitance, from the latest active_capacitance."""
            return self.state().active_capacitance()

        def get_electrode_pins() -> Any:
            """The 128 electrode pins (booleans) of the latest electrode_state."""
            return self.state().electrode_pins()

        def get_temperatures() -> Any:
            """Temperatures from the latest temperature_control."""
            return self.state().temperatures()

        def get_hv_supply_voltage() -> Any:
            """High-voltage supply from the latest hv_regulator."""
            return self.state().hv_supply_voltage()

        def playback_seek(seconds: float) -> Any:
            """Continue playback from `seconds` after the log start."""
            return self.seek(seconds)

        def playback_enable(enable: bool) -> Any:
            """Resume (true) or pause (false) playback."""
            return self.set_playing(enable)

        def playback_speed(speed: float) -> Any:
            """Set the speed factor (1: real time, 0: as fast as clients take it)."""
            return self.set_speed(speed)

        def playback_status() -> Any:
            """time, duration, playing, speed, clients and counters."""
            return self.status()

        methods = [
            get_board_definition,
            get_parameter_definitions,
            get_scan_capacitance,
            get_bulk_capacitance,
            get_group_capacitance,
            get_active_capacitance,
            get_electrode_pins,
            get_temperatures,
            get_hv_supply_voltage,
            playback_seek,
            playback_enable,
            playback_speed,
            playback_status,
        ]
        return {fn.__name__: fn for fn in methods}

    def _start_http(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "pdlogkit-replay"
            timeout = REQUEST_TIMEOUT  # a client that stops sending mid-request is let go

            def setup(self) -> None:
                super().setup()
                server._requests.add(self.request)

            def finish(self) -> None:
                server._requests.discard(self.request)
                with contextlib.suppress(OSError):
                    super().finish()

            def log_message(self, format: str, *args: Any) -> None:  # the replay is quiet
                pass

            def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_OPTIONS(self) -> None:  # CORS preflight, for dashboards in a browser
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
                self.send_header("Access-Control-Allow-Headers", "Content-Type")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/rpc/map":
                    self._reply(200, json.dumps(server.dispatcher.describe()).encode())
                elif path == "/":
                    self._reply(200, server._status_page(), "text/html; charset=utf-8")
                else:
                    self._reply(404, json.dumps({"error": f"no such page: {path}"}).encode())

            do_HEAD = do_GET

            def do_POST(self) -> None:
                path = self.path.split("?", 1)[0]
                if path != "/rpc":
                    self._reply(404, json.dumps({"error": f"no such endpoint: {path}; use POST /rpc"}).encode())
                    return
                try:
                    length = int(self.headers.get("Content-Length", ""))
                except ValueError:
                    length = -1
                if length < 0 or length > MAX_REQUEST:
                    self.close_connection = True
                    answer = {"jsonrpc": "2.0", "id": None}
                    answer["error"] = {"code": -32600, "message": "invalid request: need a Content-Length <= 1 MB"}
                    self._reply(200, json.dumps(answer).encode())
                    return
                body = self.rfile.read(length)
                response = server.dispatcher.handle(body)
                if response is None:
                    self._reply(204, b"")
                else:
                    self._reply(200, response)

        self._http = _HttpServer((self.host, self.http_port), Handler)
        self._http.daemon_threads = True
        self.http_port = self._http.server_address[1]
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, args=(0.1,), name="pdlogkit-replay-http", daemon=True
        )
        self._http_thread.start()

    def _status_page(self) -> bytes:
        status = self.status()
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in status.items())
        log = html.escape(self._log.path if self._log is not None else "")
        page = (
            "<!doctype html><meta charset=utf-8><title>pdlogkit replay</title>"
            f"<h1>pdlogkit replay</h1><p>{log}</p><table>{rows}</table>"
            f"<p>Events: <code>{html.escape(self.ws_url)}</code>; control: <code>POST /rpc</code>, "
            "methods at <a href=/rpc/map>/rpc/map</a>.</p>"
        )
        return page.encode()


class _HttpServer(ThreadingHTTPServer):
    """The control API's server: a client that resets its connection is no error to report."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)
