"""What the recorder asks the gateway's control API, so a log describes its own board and device.

The gateway answers JSON-RPC 2.0 over HTTP (`POST /rpc`, port 7000 beside the
event stream's 7001). Once per connection the recorder asks `get_board_definition`
and `get_device_info`, within one second in all, on its event loop and off the
receive path. A gateway that does not answer costs the recording nothing: the
metadata then says why (`board_error`, `device_info_error`).
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import urllib.parse
from typing import Any

#: The control API's port on the gateway's host.
RPC_PORT = 7000
#: Seconds the recorder waits for the control API's answers, in all.
RPC_TIMEOUT = 1.0
#: Largest answer read (a board definition is tens of kB).
MAX_ANSWER = 4 << 20
#: What is asked, and the metadata key each answer is stored under.
QUESTIONS = {"get_board_definition": "board", "get_device_info": "device_info"}


class RpcFailed(Exception):
    """The control API did not answer a call usefully (the message says why, in a user's words)."""


def rpc_url_for(ws_uri: str) -> str:
    """The control API's URL for a gateway's event-stream URI: same host, port 7000, path /rpc."""
    parts = urllib.parse.urlsplit(ws_uri)
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{host}:{RPC_PORT}/rpc"


def check_rpc_url(url: str) -> str:
    """A usable control API URL (http or https), else ValueError."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the control API URL must be http://HOST[:PORT]/PATH, not {url!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"the control API URL has a bad port: {url!r}") from None
    return url


class _Replayed:
    """A socket stand-in whose bytes were received already: lets `http.client` parse a whole response."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, *args: Any, **kwargs: Any) -> io.BytesIO:
        return io.BytesIO(self._data)


async def _post(url: str, body: bytes) -> tuple[int, bytes]:
    """POST `body` (JSON) to `url`; the status and body of the answer (HTTP/1.1, one request per connection)."""
    parts = urllib.parse.urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=https or None)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
        data = bytearray()
        while len(data) <= MAX_ANSWER:
            block = await reader.read(1 << 16)
            if not block:
                break
            data += block
        if len(data) > MAX_ANSWER:
            raise RpcFailed(f"the answer is over {MAX_ANSWER} bytes")
    finally:
        writer.close()
    response = http.client.HTTPResponse(_Replayed(bytes(data)))  # type: ignore[arg-type]
    try:
        response.begin()
        return response.status, response.read()
    except (http.client.HTTPException, ValueError) as exc:
        raise RpcFailed(f"not an HTTP answer ({exc.__class__.__name__})") from None


async def call(url: str, method: str, params: list[Any] | None = None, *, request_id: int = 1) -> Any:
    """One JSON-RPC 2.0 call; its result, or `RpcFailed` saying what went wrong."""
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params or [], "id": request_id}).encode()
    try:
        status, answer = await _post(url, body)
    except ConnectionRefusedError:
        raise RpcFailed("connection refused (no control API there?)") from None
    except OSError as exc:
        raise RpcFailed(exc.strerror or str(exc) or exc.__class__.__name__) from None
    if status != 200:
        raise RpcFailed(f"HTTP status {status}")
    try:
        reply = json.loads(answer)
    except (ValueError, RecursionError):
        raise RpcFailed("the answer is not JSON") from None
    if not isinstance(reply, dict):
        raise RpcFailed("the answer is not a JSON-RPC response")
    error = reply.get("error")
    if error is not None:
        if isinstance(error, dict):
            raise RpcFailed(f"error {error.get('code')}: {error.get('message')}")
        raise RpcFailed(f"error {error!r}")
    if "result" not in reply:
        raise RpcFailed("the answer holds no result")
    return reply["result"]


async def ask_gateway(url: str, *, timeout: float = RPC_TIMEOUT) -> dict[str, Any]:
    """What the gateway's control API says about its board and device, as a metadata update.

    `{"board": ..., "device_info": ...}` for each answer (exactly as answered), and
    `{"board_error": "...", ...}` for each question not answered within `timeout`
    seconds in all. Never raises for the gateway's sake.
    """

    async def ask(method: str, request_id: int) -> Any:
        return await asyncio.wait_for(call(url, method, request_id=request_id), timeout)

    methods = list(QUESTIONS)
    answers = await asyncio.gather(*(ask(m, i) for i, m in enumerate(methods, start=1)), return_exceptions=True)
    update: dict[str, Any] = {}
    for method, answer in zip(methods, answers, strict=True):
        key = QUESTIONS[method]
        if isinstance(answer, BaseException):
            if isinstance(answer, asyncio.CancelledError):
                raise answer
            if isinstance(answer, asyncio.TimeoutError | TimeoutError):
                reason = f"no answer within {timeout:g} s"
            elif isinstance(answer, RpcFailed):
                reason = str(answer)
            else:
                reason = f"{answer.__class__.__name__}: {answer}"
            update[f"{key}_error"] = f"{method} at {url}: {reason}"
        else:
            update[key] = answer
            update[f"{key}_error"] = None  # an answer replaces an earlier failure
    return update


__all__ = ["QUESTIONS", "RPC_PORT", "RPC_TIMEOUT", "RpcFailed", "ask_gateway", "call", "check_rpc_url", "rpc_url_for"]
