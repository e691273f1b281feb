"""The control API over HTTP (aiohttp), on the same event loop as the event stream.

`POST /rpc` takes JSON-RPC 2.0 (bodies up to `MAX_BODY`, batches up to the dispatcher's
`max_batch`), `GET /rpc/map` lists the methods, and every other `GET` is a page
(`pages.Pages`). Requests are coroutines on the loop that sends the stream: a request
never blocks it (what reads the whole log does so once, in a thread the server joins), a
body that never comes costs nothing but its socket, and `stop()` lets go of every
connection at once. Headers and a small body leave in one write with TCP_NODELAY
(aiohttp's default), so keep-alive requests meet no delayed ACK.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from .pages import Pages
from .rpc import INVALID_REQUEST, Dispatcher

#: Largest request body: a gateway call is a few hundred bytes; a full batch of them fits easily.
MAX_BODY = 64 * 1024
#: Seconds a client may take to send its request body.
BODY_TIMEOUT = 10.0
#: Seconds an idle keep-alive connection stays open.
KEEPALIVE_TIMEOUT = 15.0
#: Pending connections the listening socket queues (bursts of parallel clients connect at once).
BACKLOG = 1024
#: Seconds `stop()` lets requests in progress finish before closing their connections.
SHUTDOWN_TIMEOUT = 0.25

CORS = {"Access-Control-Allow-Origin": "*"}


class ControlServer:
    """The HTTP side of the replay: the control API and the pages, on the running event loop."""

    def __init__(self, dispatcher: Dispatcher, pages: Pages, host: str, port: int) -> None:
        self.dispatcher = dispatcher
        self.pages = pages
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen (OSError if the port cannot be had); `port` is then the real one."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/rpc", self._rpc)
        app.router.add_get("/rpc/map", self._map)
        app.router.add_route("*", "/{path:.*}", self._page)
        app.on_response_prepare.append(_cors)
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            keepalive_timeout=KEEPALIVE_TIMEOUT,
        )
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self.host, self.port, backlog=BACKLOG)
        await site.start()
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening and close every connection (requests in progress get `SHUTDOWN_TIMEOUT`)."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _rpc(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _too_large(request)
        try:
            body = await asyncio.wait_for(request.read(), BODY_TIMEOUT)
        except web.HTTPRequestEntityTooLarge:
            return _too_large(request)
        except TimeoutError:
            return web.Response(status=408, text="request body too slow", headers={"Connection": "close"})
        answer = await self.dispatcher.handle(body)
        if answer is None:
            return web.Response(status=204)
        return web.Response(body=answer, content_type="application/json")

    async def _map(self, request: web.Request) -> web.Response:
        return web.json_response(self.dispatcher.describe())

    async def _page(self, request: web.Request) -> web.StreamResponse:
        if request.method == "OPTIONS":  # CORS preflight, for dashboards in a browser
            return web.Response(
                status=204,
                headers={"Access-Control-Allow-Methods": "GET, POST, OPTIONS", "Access-Control-Allow-Headers": "*"},
            )
        if request.method in ("GET", "HEAD"):
            page = self.pages.get(request.path)
            if page is not None:
                return web.Response(body=page.body, headers={"Content-Type": page.content_type})
            return web.json_response({"error": f"no such page: {request.path}"}, status=404)
        return web.json_response({"error": f"no such endpoint: {request.path}; use POST /rpc"}, status=404)


def _too_large(request: web.Request) -> web.Response:
    """413 with a JSON-RPC error a client can read; the connection closes (the body is not read)."""
    message = f"invalid request: the body must be at most {MAX_BODY // 1024} KB"
    body = {"jsonrpc": "2.0", "error": {"code": INVALID_REQUEST, "message": message}, "id": None}
    return web.Response(
        status=413, body=json.dumps(body).encode(), content_type="application/json", headers={"Connection": "close"}
    )


async def _cors(request: web.Request, response: Any) -> None:
    response.headers.update(CORS)
