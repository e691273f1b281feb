"""Real servers on 127.0.0.1 for the remote-log tests: an HTTP file server that counts, and S3 (moto).

`FileServer` serves a folder with aiohttp's own file responses (Range, ETag,
If-Match and the rest as aiohttp implements them) and counts the requests and
the body bytes it sends. Under `/norange/` it answers every GET with the whole
file (a server that ignores Range); under `/slow/` range requests never answer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web


@dataclass
class Traffic:
    """What the server sent: requests (of every method) and body bytes."""

    requests: int = 0
    bytes: int = 0


class FileServer:
    """An aiohttp file server for a folder on a free port of 127.0.0.1, in a thread of its own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.traffic = Traffic()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._release: asyncio.Event | None = None
        self.port = 0

    def url(self, name: str, mode: str = "") -> str:
        """The URL of file `name` (mode: "", "norange" or "slow")."""
        return f"http://127.0.0.1:{self.port}/{mode + '/' if mode else ''}{name}"

    def reset(self) -> Traffic:
        """The traffic so far, and start counting from zero."""
        seen, self.traffic = self.traffic, Traffic()
        return seen

    def _path(self, request: web.Request) -> Path:
        path = (self.root / request.match_info["name"]).resolve()
        if self.root.resolve() not in path.parents or not path.is_file():
            raise web.HTTPNotFound()
        return path

    async def _file(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(self._path(request))

    async def _norange(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=self._path(request).read_bytes())

    async def _slow(self, request: web.Request) -> web.StreamResponse:
        path = self._path(request)
        if request.method == "GET":
            assert self._release is not None
            await self._release.wait()
        return web.FileResponse(path)

    async def _count(self, request: web.Request, response: web.StreamResponse) -> None:
        self.traffic.requests += 1
        if request.method != "HEAD" and response.content_length:
            self.traffic.bytes += response.content_length

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.on_response_prepare.append(self._count)
        app.router.add_get("/norange/{name:.+}", self._norange)
        app.router.add_get("/slow/{name:.+}", self._slow)
        app.router.add_get("/{name:.+}", self._file)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self._release = asyncio.Event()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def start(self) -> FileServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        def release() -> None:
            assert self._release is not None
            self._release.set()
            self._loop.stop()

        self._loop.call_soon_threadsafe(release)
        self._thread.join(10)


@contextmanager
def file_server(root: Path) -> Iterator[FileServer]:
    server = FileServer(root).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def s3_server() -> Iterator[dict[str, object]]:
    """A moto S3 server on a free port; yields the fsspec storage options that reach it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    try:
        yield {"client_kwargs": {"endpoint_url": endpoint}, "skip_instance_cache": True}
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        # moto keeps its buckets in the process: forget them, so the next server starts empty.
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
        server.stop()
