"""The event stream's clients: who is connected, who gets each event, and who is let go.

Each client has a bounded send buffer. A client over it is dropped at once with close
code 1008 and a reason it can read, counted, and no longer sent to; its transport is
aborted if the closing handshake does not finish within `close_timeout` (a client that
stopped reading never finishes it). A client that closes but does not take the reply
within `PEER_CLOSE_GRACE` (a client that paused reading with its queue full never
does) is let go then, instead of when it gives up. So no stalled
client holds memory, a connection or a place in the count for more than seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from websockets.asyncio.server import broadcast
from websockets.protocol import State

from .playback import ReplayStats

#: Bytes a client may have waiting in its send buffer before it is disconnected as too slow.
DEFAULT_CLIENT_BUFFER = 8 * 1024 * 1024

logger = logging.getLogger("pdlogkit.replay")

#: Close code and reason sent to a client that overflows its buffer.
SLOW_CLIENT_CODE = 1008
#: Close code sent to clients when the log cannot be read further (corrupt, vanished).
LOG_ERROR_CODE = 1011
#: At speed 0 (the replay waits for its clients) a client that takes nothing for this long is dropped...
STALL_TIMEOUT = 10.0
#: ...or for this long when it holds up other clients of the same timeline that do keep up.
STALL_OTHERS_TIMEOUT = 2.0
#: How often connections are looked over (buffers, closing handshakes that do not finish).
SWEEP_INTERVAL = 0.1
#: A client that sent its close frame has this long to take our reply and end the connection.
PEER_CLOSE_GRACE = 0.5
#: Longest close reason a close frame holds, in bytes.
MAX_REASON = 123
#: The close code a client gets when the replay stops (going away), as a gateway's clients get when it shuts down.
STOPPING_CODE = 1001
#: A client with more than this still to take is not waited for when the replay stops: it is cut off.
GOODBYE_BUFFER = 256 * 1024
#: How long a stopping replay waits for its clients to answer its goodbye.
GOODBYE_TIMEOUT = 0.5


class Clients:
    """The websocket connections of one replay server, on its event loop.

    `open` holds the clients events go to (counted in `playback_status`). Dropped and
    closing connections leave it at once and are watched until their transport is gone.
    """

    def __init__(self, stats: ReplayStats, *, limit: int, close_timeout: float) -> None:
        self.stats = stats
        self.limit = limit
        self.close_timeout = close_timeout
        self.open: list[Any] = []  # in order of arrival
        self._closing: dict[Any, float] = {}  # connection -> monotonic time it started closing
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self.open)

    @property
    def held(self) -> int:
        """Connections still held: the open clients and those closing whose transport is not gone yet."""
        return len(self.open) + len(self._closing)

    def add(self, conn: Any) -> None:
        self.open.append(conn)

    def remove(self, conn: Any) -> None:
        """Forget a connection whose handler ended (its transport is closed)."""
        if conn in self.open:
            self.open.remove(conn)
        self._closing.pop(conn, None)

    def timeline(self, members: Callable[[], Iterable[Any]] | None = None) -> Timeline:
        """A sink for a playback: every open client, or `members()` among them."""
        return Timeline(self, members)

    # --- letting go --------------------------------------------------------------

    def drop_slow(self, conn: Any, buffered: int) -> None:
        """Disconnect a client that overflowed its buffer, with a reason it can read, and count it."""
        if conn not in self.open:
            return
        self.stats.slow_clients_dropped += 1
        logger.info("client %s too slow: %d bytes waiting, disconnected", _peer(conn), buffered)
        self._close(conn, SLOW_CLIENT_CODE, f"client too slow: {buffered} bytes waiting, limit {self.limit}")

    def close_with(self, conns: Iterable[Any], code: int, reason: str) -> None:
        """Close connections with a code and a reason (cut to what a close frame holds)."""
        data = reason.encode("utf-8", "replace")
        if len(data) > MAX_REASON:
            reason = data[: MAX_REASON - 3].decode("utf-8", "ignore") + "..."
        for conn in list(conns):
            self._close(conn, code, reason)

    def _close(self, conn: Any, code: int, reason: str) -> None:
        if conn in self.open:
            self.open.remove(conn)
        self._closing.setdefault(conn, time.monotonic())
        task = asyncio.get_running_loop().create_task(conn.close(code, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def sweep(self) -> None:
        """Look over every connection each `SWEEP_INTERVAL` until cancelled."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            self.sweep_once()

    def sweep_once(self) -> None:
        now = time.monotonic()
        for conn in list(self.open):
            if conn.protocol.state is not State.OPEN:  # the client closes: it gets nothing more
                self.open.remove(conn)
                self._closing.setdefault(conn, now)
            elif _buffered(conn) > self.limit:
                self.drop_slow(conn, _buffered(conn))
        for conn, since in list(self._closing.items()):
            transport = conn.transport
            if transport is None or (transport.is_closing() and not _buffered(conn)):
                continue
            # The client closed but has not taken our reply (a client that paused reading with its
            # queue full never will), or our own close outlived its timeout: let the connection go.
            peer_closed = conn.protocol.close_rcvd is not None
            if (peer_closed and now - since > PEER_CLOSE_GRACE) or now - since > self.close_timeout:
                transport.abort()

    async def close(self) -> None:
        """The server is stopping: say goodbye (1001) to the clients that keep up, for at most
        `GOODBYE_TIMEOUT`; abort every other connection, and wait for the close tasks."""
        healthy = [c for c in self.open if c.protocol.state is State.OPEN and _buffered(c) <= GOODBYE_BUFFER]
        if healthy:
            goodbyes = [asyncio.ensure_future(c.close(STOPPING_CODE, "the replay stopped")) for c in healthy]
            await asyncio.wait(goodbyes, timeout=GOODBYE_TIMEOUT)
            for goodbye in goodbyes:
                goodbye.cancel()
            await asyncio.gather(*goodbyes, return_exceptions=True)
        for conn in [*self.open, *self._closing]:
            if conn.transport is not None:
                conn.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)


class Timeline:
    """The connections one playback sends to, with the buffer bound applied at every send."""

    def __init__(self, clients: Clients, members: Callable[[], Iterable[Any]] | None) -> None:
        self.clients = clients
        self._members = members

    def connections(self) -> list[Any]:
        if self._members is None:
            return list(self.clients.open)
        return [conn for conn in self._members() if conn in self.clients.open]

    def send(self, payload: bytes) -> int:
        """Send to every connection with room (dropping those without); return how many got it."""
        limit = self.clients.limit
        ready = []
        for conn in self.connections():
            buffered = _buffered(conn)
            if buffered and buffered + len(payload) > limit:
                self.clients.drop_slow(conn, buffered)
            else:
                ready.append(conn)
        broadcast(ready, payload)
        return len(ready)

    async def drained(self) -> None:
        """Wait until every connection's buffer is at most half full (speed 0 backpressure).

        A client that takes nothing while the others keep up is dropped after
        `STALL_OTHERS_TIMEOUT`, one that is alone in holding up after `STALL_TIMEOUT`.
        """
        half = self.clients.limit // 2
        since = time.monotonic()
        while True:
            connections = self.connections()
            full = [c for c in connections if _buffered(c) > half]
            if not full:
                return
            limit = STALL_OTHERS_TIMEOUT if len(full) < len(connections) else STALL_TIMEOUT
            if time.monotonic() - since > limit:
                for conn in full:
                    self.clients.drop_slow(conn, _buffered(conn))
                return
            await asyncio.sleep(0.001)


def _buffered(conn: Any) -> int:
    transport = conn.transport
    return transport.get_write_buffer_size() if transport is not None else 0


def _peer(conn: Any) -> str:
    address = conn.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"
