"""What the replay tests use to talk to a replay server as real clients do: JSON-RPC over HTTP, websockets."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from pdlogkit import open_log

# The command as the installed package runs it, whether or not its venv is on PATH.
PDLOGKIT = [sys.executable, "-m", "pdlogkit"]
PDSERVER = [
    sys.executable,
    "-c",
    "import sys; from pdlogkit.cli.replay import pdserver_main; sys.exit(pdserver_main())",
]

#: A websocket opening handshake, for raw clients that then never read.
HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def payloads(path: Path, **window: Any) -> list[bytes]:
    with open_log(path) as log:
        return [e.payload for e in log.events(**window)]


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def call(url: str, method: str, *params: Any, rid: int = 1) -> dict:
    """One JSON-RPC call the way pdclient makes it: positional params, an integer id, a JSON body."""
    body = json.dumps({"method": method, "params": list(params), "jsonrpc": "2.0", "id": rid}).encode()
    return post(url, body)[1]


def result(url: str, method: str, *params: Any) -> Any:
    answer = call(url, method, *params)
    assert "error" not in answer, answer
    return answer["result"]


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def client(url: str):
    """A websocket client that takes messages of any size and keeps reading while the test looks away."""
    return connect(url, max_size=None, max_queue=None)


def receive(url: str, count: int, timeout: float = 20.0) -> list[bytes]:
    with client(url) as ws:
        return [ws.recv(timeout=timeout) for _ in range(count)]


def stalled_client(port: int) -> socket.socket:
    """A client that completes the websocket handshake, then never reads (a tiny receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(HANDSHAKE)
    assert sock.recv(4096, socket.MSG_PEEK).startswith(b"HTTP/1.1 101")
    return sock


class Served:
    """A `pdlogkit replay` (or `pdserver`) process, its URLs read from its first line; stopped with SIGINT."""

    def __init__(self, command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env
        )
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        match = re.match(r"events: (ws://\S+)  control: (http://\S+/rpc)", line)
        if not match:
            self.process.kill()
            raise AssertionError(f"no URLs in {line!r}: {self.process.communicate(timeout=20)[1]}")
        self.ws_url, self.rpc_url = match.group(1), match.group(2)
        self.err = ""

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.err = self.process.communicate(timeout=20)[1]
        finally:
            self.process.kill()


def threads_of_the_replay() -> list[threading.Thread]:
    """Threads a replay server may start (its loop, its readers)."""
    return [t for t in threading.enumerate() if t.name.startswith("pdlogkit-replay")]
