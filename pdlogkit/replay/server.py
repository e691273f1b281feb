"""`ReplayServer`: a fake gateway that re-emits a log over a websocket with its original timing.

The facade over the parts next to it, all on one asyncio event loop: the playback
engine (`playback`, reading ahead in threads of `readahead`), the websocket clients
(`clients`), the control API over HTTP (`http`, answering `methods` through `rpc`),
the pages (`pages`) and the board (`pdlogkit.boards`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from .._loop import BackgroundLoop, LoopService
from ..boards import Board, load_board
from ..errors import BoardError, ReplayError
from ..events import check_kinds
from ..log import Log, open_log
from .clients import DEFAULT_CLIENT_BUFFER, LOG_ERROR_CODE, Clients
from .http import ControlServer
from .methods import GatewayMethods
from .pages import Pages, WebApp, printable, status_page, viewer_app
from .playback import Playback, ReplayStats, Source, check_window
from .readahead import ReadAhead
from .rpc import Dispatcher
from .schedule import check_speed
from .state import DeviceState

logger = logging.getLogger("pdlogkit.replay")

T = TypeVar("T")

#: Pending connections the event stream's listening socket queues.
WS_BACKLOG = 1024
#: Longest a control call from another thread waits for the loop: a seek in a large classic log
#: without an index reads it from the start.
CONTROL_TIMEOUT = 600.0
#: Longest `stop()` waits for reading threads to notice (each is inside one read at most).
READER_JOIN_TIMEOUT = 30.0


def check_port(port: object, what: str) -> int:
    """A TCP port number (0: a free one) or ValueError."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"{what} must be a port number from 0 to 65535 (0: a free one), not {port!r}")
    return port


class ReplayServer(LoopService):
    """A fake gateway replaying a log: the event stream on a websocket, the control API over HTTP.

    Binds 127.0.0.1 on free ports unless told otherwise. Use it as an async context
    manager in async code, or as a plain one (it then runs in a background thread).

        with ReplayServer("run.pdlz", speed=10, per_client=True) as server:
            client = MyDashboard(server.ws_url, server.rpc_url)

    Like the gateway, it plays from the moment it starts, whether or not anyone
    listens (`wait=True`: from the first client; `paused=True`: on
    `playback_enable(true)`); all clients share one timeline. With `per_client=True`
    every client gets its own playback from `start`. `board` is a `Board`, a board
    definition dict, or a name or path as `--board` takes it; without one, the board
    the log's metadata holds, else `fallback_board` (a name). `web_ui` is a folder or
    a `.tar.gz` served at `GET /`. Bad option values raise ValueError; control
    methods are thread-safe.
    """

    thread_name = "pdlogkit-replay"
    start_timeout = 600.0  # opening a large log without an index reads it once
    stop_timeout = READER_JOIN_TIMEOUT + 30.0  # the readers' join, then closing connections and servers

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
        wait: bool = False,
        paused: bool = False,
        board: Board | dict[str, Any] | str | os.PathLike[str] | None = None,
        fallback_board: str | None = None,
        web_ui: str | os.PathLike[str] | None = None,
        client_buffer: int = DEFAULT_CLIENT_BUFFER,
        close_timeout: float = 2.0,
    ) -> None:
        self.speed = check_speed(speed)
        if isinstance(client_buffer, bool) or not isinstance(client_buffer, int) or client_buffer <= 0:
            raise ValueError(f"client_buffer must be a whole number of bytes > 0, not {client_buffer!r}")
        if not isinstance(close_timeout, int | float) or not 0 < close_timeout < math.inf:
            raise ValueError(f"close_timeout must be a number of seconds > 0, not {close_timeout!r}")
        check_kinds(kinds, "kinds")  # bad options fail here, before anything is opened
        check_kinds(exclude, "exclude")
        check_window(start, end)
        self.host = host
        self.ws_port = check_port(ws_port, "ws_port")
        self.http_port = check_port(http_port, "http_port")
        self.per_client = per_client
        self.loop = loop
        self.client_buffer = client_buffer
        self.close_timeout = float(close_timeout)
        self.board: Board | None = _board(board)
        self.board_missing = "no board definition: start the replay with a board (--board NAME or FILE.json)"
        self._fallback_board = fallback_board
        self._web_ui_path = web_ui
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
        self._clients = Clients(self.stats, limit=client_buffer, close_timeout=self.close_timeout)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._threads: set[threading.Thread] = set()
        self._ws_server: Any = None
        self._http: ControlServer | None = None
        self._aloop: asyncio.AbstractEventLoop | None = None
        self._background: BackgroundLoop | None = None
        #: Set when the server stops: long reads in its threads (the viewer's activity scan) end early.
        self.stopping = threading.Event()
        self.dispatcher = Dispatcher(GatewayMethods(self).table())

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
    def source(self) -> Source:
        """What is played: the log, its timeline's origin and duration, the window (once started)."""
        if self._source is None:
            raise ReplayError("the replay server is not started")
        return self._source

    @property
    def clients(self) -> int:
        """How many clients are connected to the event stream."""
        return len(self._clients)

    # --- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        """Open the log, start listening on both ports and start playing (unless waiting or paused)."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        from websockets.asyncio.server import serve

        self._aloop = asyncio.get_running_loop()
        web_ui, viewer = await self._in_thread(self._open)
        source = self._source
        assert source is not None
        feed = source.read_ahead(source.start)
        await feed.ready
        self._main = Playback(
            source,
            self._clients.timeline(),
            self.stats,
            speed=self.speed,
            playing=self._playing,
            waiting=self._wait,
            loop=self.loop,
            on_error=lambda reason: self._close_all(list(self._clients.open), reason),
        )
        self._main.install(feed)
        try:
            self._ws_server = await serve(
                self._handle,
                self.host,
                self.ws_port,
                compression=None,
                max_size=1 << 16,
                ping_interval=None,  # as the gateway: no pings; a client that stops reading meets the buffer bound
                close_timeout=self.close_timeout,
                backlog=WS_BACKLOG,
            )
        except OSError as exc:
            raise ReplayError(f"cannot serve events on {self.host}:{self.ws_port}: {exc.strerror or exc}") from None
        self.ws_port = self._ws_server.sockets[0].getsockname()[1]
        pages = Pages(self._status_page, web_ui, viewer if web_ui is None else None)
        self._http = ControlServer(self.dispatcher, pages, self.host, self.http_port)
        try:
            await self._http.start()
        except OSError as exc:
            raise ReplayError(
                f"cannot serve the control API on {self.host}:{self.http_port}: {exc.strerror or exc}"
            ) from None
        self.http_port = self._http.port
        self._spawn(self._clients.sweep())
        if not self.per_client:
            self._spawn(self._main.run())

    def _open(self) -> tuple[WebApp | None, WebApp | None]:
        """Blocking start-up work, in a thread: the web UI (or the viewer), the log, its board and the window."""
        web_ui = WebApp.load(self._web_ui_path) if self._web_ui_path is not None else None
        viewer = viewer_app() if web_ui is None else None
        if isinstance(self._log_arg, Log):
            self._log = self._log_arg
        else:
            self._log = open_log(self._log_arg)
            self._own_log = True
        start, end, kinds, exclude = self._window
        self._source = Source(self._log, start, end, kinds, exclude)
        if start > 0 and start >= self._source.duration:
            raise ReplayError(
                f"the window starts at {start:g} s, past the log's end: "
                f"{printable(os.path.basename(self._log.path))} spans 0 to {self._source.duration:.3f} s"
            )
        if self.board is None:
            self.board = self._log_board()
        if self.board is None and self._fallback_board is not None:
            self.board = load_board(self._fallback_board)
        return web_ui, viewer

    def _log_board(self) -> Board | None:
        """The board a container log's metadata holds (recorded in the gateway's answer shape), if any."""
        assert self._log is not None
        definition = self._log.metadata.get("board")
        if definition is None:
            return None
        try:
            return Board(definition, f"{printable(self._log.path)} metadata")
        except BoardError as exc:
            self.board_missing = f"no board definition: the log's is not valid ({exc}); give one with --board"
            return None

    async def stop(self) -> None:
        """Stop playing, close every connection and both servers; no thread or task of the server outlives it."""
        self.stopping.set()
        if self._http is not None:
            http, self._http = self._http, None
            await http.stop()
        if self._ws_server is not None:
            server, self._ws_server = self._ws_server, None
            server.close(close_connections=False)
            await self._clients.close()  # abort: nobody waits for clients to read their queues
            await server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for playback in [self._main, *self._playbacks]:
            if playback is not None:
                playback.stop()
        await self._join_readers()
        if self._own_log and self._log is not None:
            self._log.close()
            self._own_log = False

    async def _join_readers(self) -> None:
        """Wait for every reading thread (read-ahead and start-up) to end."""
        feeds: set[ReadAhead] = self._source.feeds if self._source is not None else set()
        for feed in feeds:
            feed.close()
        deadline = time.monotonic() + READER_JOIN_TIMEOUT
        while time.monotonic() < deadline:
            alive = [f for f in feeds if f.alive] + [t for t in self._threads if t.is_alive()]
            if not alive:
                return
            await asyncio.sleep(0.005)
        logger.warning("reading threads still busy after %g s", READER_JOIN_TIMEOUT)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def read_in_thread(self, fn: Callable[[], T]) -> asyncio.Task[T]:
        """Blocking reading (`fn`) in a thread the server joins when it stops, as a task it cancels then."""
        task = self._spawn(self._in_thread(fn))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # a failure nobody awaits any more
        return task

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        """Run blocking work in a thread of the server's own (joined by `stop()`), not the loop's executor."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def work() -> None:
            try:
                result = fn()
            except BaseException as exc:
                _settle(loop, future, exc, None)
            else:
                _settle(loop, future, None, result)

        thread = threading.Thread(target=work, name="pdlogkit-replay-open", daemon=True)
        self._threads.add(thread)
        thread.start()
        try:
            return await future
        finally:
            self._threads = {t for t in self._threads if t.is_alive()}

    # --- clients ---------------------------------------------------------

    async def _handle(self, conn: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        self.stats.clients_served += 1
        logger.info("client %s connected", conn.remote_address)
        playback = None
        task = None
        try:
            if self.per_client:
                playback = await self._own_playback(conn)
            self._clients.add(conn)
            if playback is not None:
                self._playbacks.append(playback)
                task = self._spawn(playback.run())
            elif self._main is not None and self._main.waiting:
                self._main.begin()
            with contextlib.suppress(ConnectionClosed):
                async for _ in conn:  # clients send nothing; whatever they send is read and dropped
                    pass
        finally:
            self._clients.remove(conn)
            if playback is not None:
                if playback in self._playbacks:
                    self._playbacks.remove(playback)
                playback.stop()
            if task is not None:
                task.cancel()
            logger.info("client %s left", conn.remote_address)

    async def _own_playback(self, conn: Any) -> Playback:
        """A per-client timeline from `start`, for one connection."""
        assert self._source is not None and self._main is not None
        feed = self._source.read_ahead(self._source.start)
        try:
            await feed.ready
        except BaseException:
            feed.close()
            raise
        playback = Playback(
            self._source,
            self._clients.timeline(lambda: [conn]),
            self.stats,
            speed=self._main.schedule.speed,
            playing=self._main.playing,
            waiting=False,
            loop=self.loop,
            on_error=lambda reason: self._close_all([conn], reason),
        )
        playback.install(feed)
        return playback

    def _close_all(self, conns: list[Any], reason: str) -> None:
        """Close connections because the log cannot be played further (1011, with the reason)."""
        if self._log is not None:  # the file's name is enough: a close reason holds 123 bytes
            reason = reason.replace(self._log.path, os.path.basename(self._log.path))
        self._clients.close_with(conns, LOG_ERROR_CODE, printable(f"cannot replay the log: {reason}"))

    # --- control, on the loop ----------------------------------------------

    def _timelines(self) -> list[Playback]:
        if self._main is None:
            raise ReplayError("the replay server is not started")
        return [self._main, *self._playbacks]

    def current_state(self) -> DeviceState:
        """The state the control methods answer from: the newest client's timeline in per-client mode."""
        return self._timelines()[-1].state

    def status_now(self) -> dict[str, Any]:
        """The playback status (call on the loop; `status()` from any thread)."""
        assert self._source is not None
        playback = self._timelines()[-1]
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
            "connections": self._clients.held,
            "per_client": self.per_client,
            "loop": self.loop,
            "start": self._source.start,
            "end": self._source.end_ns / 1e9,
            "events_sent": self.stats.events_sent,
            "bytes_sent": self.stats.bytes_sent,
            "clients_served": self.stats.clients_served,
            "slow_clients_dropped": self.stats.slow_clients_dropped,
            "loops": self.stats.loops,
        }

    async def seek_async(self, seconds: float) -> dict[str, Any]:
        """Continue every timeline from `seconds` after the log start (clamped to the window)."""
        source = self._source
        if source is None:
            raise ReplayError("the replay server is not started")
        target = source.clamp(seconds)
        timelines = self._timelines()
        feeds = [source.read_ahead(target) for _ in timelines]
        try:
            await asyncio.gather(*(feed.ready for feed in feeds))
        except BaseException:
            for feed in feeds:
                feed.close()
            raise
        for playback, feed in zip(timelines, feeds, strict=True):
            if playback is self._main or playback in self._playbacks:
                playback.install(feed)
            else:  # its client left meanwhile
                feed.close()
        return self.status_now()

    async def set_playing_async(self, playing: bool) -> dict[str, Any]:
        """Pause (False) or resume (True) every timeline; a finished one starts over."""
        if not isinstance(playing, bool):
            raise ValueError(f"expected true or false, not {playing!r}")
        source = self._source
        if source is None:
            raise ReplayError("the replay server is not started")
        restarts = {id(p): source.read_ahead(source.start) for p in self._timelines() if playing and p.finished}
        try:
            await asyncio.gather(*(feed.ready for feed in restarts.values()))
        except BaseException:
            for feed in restarts.values():
                feed.close()
            raise
        self._playing = playing
        for playback in self._timelines():
            playback.set_playing(playing, restarts.pop(id(playback), None))
        for feed in restarts.values():
            feed.close()
        return self.status_now()

    def set_speed_async(self, speed: float) -> dict[str, Any]:
        """Change the speed factor of every timeline (0: as fast as the clients take it)."""
        speed = check_speed(speed)
        self.speed = speed
        for playback in self._timelines():
            playback.set_speed(speed)
        return self.status_now()

    # --- control from any thread ------------------------------------------

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` (a function, or a coroutine function) on the server's loop and return its result."""
        loop = self._aloop
        if loop is None:
            raise ReplayError("the replay server is not started")

        async def call() -> Any:
            result = fn()
            return await result if asyncio.iscoroutine(result) else result

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise ReplayError("on the server's own loop, use the *_async methods (or await to_thread)")
        return asyncio.run_coroutine_threadsafe(call(), loop).result(CONTROL_TIMEOUT)

    def status(self) -> dict[str, Any]:
        """Playback status: time (s from the log start), duration, playing, speed, clients, counters."""
        return self._call(self.status_now)

    def seek(self, seconds: float) -> dict[str, Any]:
        """Continue every timeline from `seconds` after the log start (clamped to the window)."""
        return self._call(lambda: self.seek_async(seconds))

    def set_playing(self, playing: bool) -> dict[str, Any]:
        """Pause (False) or resume (True) playback."""
        return self._call(lambda: self.set_playing_async(playing))

    def set_speed(self, speed: float) -> dict[str, Any]:
        """Change the speed factor (0: as fast as the clients take it)."""
        return self._call(lambda: self.set_speed_async(speed))

    def schedule(self) -> tuple[float, float, float]:
        """The current timeline's anchor: (monotonic s, log position s, speed); position p is due at
        `anchor + (p - position) / speed`. For measuring timing from outside (benchmarks)."""

        def read() -> tuple[float, float, float]:
            schedule = self._timelines()[-1].schedule
            return schedule.anchor, schedule.anchor_pos / 1e9, schedule.speed

        return self._call(read)

    def lateness(self) -> list[float]:
        """A snapshot of the send lateness samples (s), taken on the event loop that adds to them."""
        return self._call(lambda: list(self.stats.lateness))

    def state(self) -> DeviceState:
        """The replayed device state at the current playback time (a snapshot)."""
        return self._call(lambda: self.current_state().copy())

    def _status_page(self) -> bytes:
        return status_page(self.status_now(), self._log.path if self._log is not None else "", self.ws_url)


def _board(board: Board | dict[str, Any] | str | os.PathLike[str] | None) -> Board | None:
    if board is None or isinstance(board, Board):
        return board
    if isinstance(board, dict):
        return Board(board, "the board definition given")
    return load_board(board)


def _settle(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], error: BaseException | None, value: Any
) -> None:
    def settle() -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(settle)
