"""JSON-RPC 2.0 dispatch, free of sockets: a request body in, a response body out.

Every failure is a JSON-RPC error object, never an exception out of `handle`:
malformed JSON (-32700), a request that is not JSON-RPC 2.0 (-32600), an
unknown method (-32601 "Method not found", as the gateway says it), wrong
parameters (-32602), a method that would change the device (`READ_ONLY`, the
replay cannot), a log that cannot be read (`REPLAY_ERROR`), anything else (-32603).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import time
from collections.abc import Callable
from typing import Any

from ..errors import PdlogkitError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
#: Server-defined code: the method would change the device, and a replay is read-only.
READ_ONLY = -32000
#: Server-defined code: the replay lacks what the method needs (no board definition, no recorded parameters).
UNAVAILABLE = -32001
#: Server-defined code: the replay could not do it because of the log (corrupt, vanished); the message says why.
REPLAY_ERROR = -32002

#: Calls a batch may hold: the gateway's clients send one call per request; a batch is for scripts.
MAX_BATCH = 100
#: Share of the event loop's time the control calls may take together, and the window it is measured over.
CALL_BUDGET = 0.25
BUDGET_WINDOW = 0.05

#: Name prefixes that say a method changes the device (set_electrode_pins, move_drops,
#: calibrate_capacitance_offset, write_gpio, ...): a replay answers them `READ_ONLY`.
DEVICE_PREFIXES = ("set_", "move_", "calibrate_", "write_")


class RpcError(Exception):
    """An error answered to the caller as a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def is_device_method(name: str) -> bool:
    """Whether a method name is one that would change the device."""
    return name.startswith(DEVICE_PREFIXES)


class Dispatcher:
    """Calls named methods from JSON-RPC 2.0 requests (single or batch) and builds the responses.

    Methods may be plain functions or coroutine functions. A method raising `ValueError`
    answers -32602 with its message (a bad argument value); a `PdlogkitError` (the log
    could not be read) answers `REPLAY_ERROR` with its message; `RpcError` answers as
    given. A batch holds at most `max_batch` calls, and the event loop gets control back
    between calls, so no request keeps it from anything else for long. All calls together
    take at most `budget` of the loop's time (measured over `BUDGET_WINDOW`): past it, the
    next call waits for the next window, so a flood of requests slows itself down, never
    the stream.
    """

    def __init__(
        self, methods: dict[str, Callable[..., Any]], *, max_batch: int = MAX_BATCH, budget: float = CALL_BUDGET
    ) -> None:
        self.methods = dict(methods)
        self.max_batch = max_batch
        self.budget = budget
        self._signatures = {name: inspect.signature(fn) for name, fn in self.methods.items()}
        self._window = 0.0  # perf_counter() at which the current budget window began
        self._used = 0.0  # seconds of calls in it

    def describe(self) -> dict[str, Any]:
        """The method list for `GET /rpc/map`: parameters and a one-line description of each."""
        methods = {}
        for name, fn in sorted(self.methods.items()):
            doc = inspect.getdoc(fn) or ""
            methods[name] = {
                "params": list(self._signatures[name].parameters),
                "description": doc.splitlines()[0] if doc else "",
            }
        return {"methods": methods, "read_only": True}

    async def handle(self, body: bytes | str) -> bytes | None:
        """The response body to a request body; None when nothing is to be answered (notifications only)."""
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _dump(_error(None, RpcError(PARSE_ERROR, f"parse error: request is not valid JSON ({exc})")))
        except RecursionError:
            return _dump(_error(None, RpcError(PARSE_ERROR, "parse error: request nested too deeply")))
        if not isinstance(request, list):
            answer = await self._paced(request)
            return None if answer is None else answer.encode()
        if not request:
            return _dump(_error(None, RpcError(INVALID_REQUEST, "invalid request: empty batch")))
        if len(request) > self.max_batch:
            message = f"invalid request: a batch holds at most {self.max_batch} calls, not {len(request)}"
            return _dump(_error(None, RpcError(INVALID_REQUEST, message)))
        answers = []
        for item in request:
            answer = await self._paced(item)
            if answer is not None:
                answers.append(answer)
            await asyncio.sleep(0)  # let the playback send what is due between calls
        return ("[" + ",".join(answers) + "]").encode() if answers else None

    async def _paced(self, request: Any) -> str | None:
        """`handle_one`, within the budget: waits for the next window when the calls used this one up."""
        now = time.perf_counter()
        if now - self._window >= BUDGET_WINDOW:
            self._window, self._used = now, 0.0
        elif self._used >= self.budget * BUDGET_WINDOW:
            await asyncio.sleep(self._window + BUDGET_WINDOW - now)
            self._window, self._used = time.perf_counter(), 0.0
        began = time.perf_counter()
        try:
            return await self.handle_one(request)
        finally:
            self._used += time.perf_counter() - began

    async def handle_one(self, request: Any) -> str | None:
        """The response object to one request object, as JSON text; None for a notification."""
        if not isinstance(request, dict):
            return _dump_text(_error(None, RpcError(INVALID_REQUEST, "invalid request: not a JSON object")))
        rid = request.get("id")
        if not isinstance(rid, str | int | float | type(None)) or isinstance(rid, bool):
            error = RpcError(INVALID_REQUEST, "invalid request: id must be a string, number or null")
            return _dump_text(_error(None, error))
        notification = "id" not in request
        try:
            result = await self._call(request)
        except RecursionError:
            error = RpcError(INVALID_REQUEST, "invalid request: nested too deeply")
            return _dump_text(_error(rid if not notification else None, error))
        except RpcError as exc:
            if exc.code == INVALID_REQUEST:  # not a valid notification either: always answered
                return _dump_text(_error(rid if not notification else None, exc))
            return None if notification else _dump_text(_error(rid, exc))
        # The result is JSON text already: the response is assembled around it, not dumped again.
        return None if notification else f'{{"jsonrpc":"2.0","result":{result},"id":{json.dumps(rid)}}}'

    async def _call(self, request: dict[str, Any]) -> str:
        """The method's result as JSON text, or RpcError."""
        if request.get("jsonrpc") != "2.0":
            raise RpcError(INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"')
        name = request.get("method")
        if not isinstance(name, str):
            raise RpcError(INVALID_REQUEST, 'invalid request: "method" must be a string')
        params = request.get("params", [])
        if not isinstance(params, list | dict):
            raise RpcError(INVALID_REQUEST, f'invalid request: "params" of {name} must be an array or an object')
        fn = self.methods.get(name)
        if fn is None:
            if is_device_method(name):
                raise RpcError(READ_ONLY, f"{name} would change the device: the replay is read-only")
            raise RpcError(METHOD_NOT_FOUND, "Method not found", {"method": name[:100]})
        args, kwargs = (params, {}) if isinstance(params, list) else ([], params)
        try:
            self._signatures[name].bind(*args, **kwargs)
        except TypeError as exc:
            raise RpcError(INVALID_PARAMS, f"invalid params for {name}: {exc}") from None
        try:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        except RpcError:
            raise
        except PdlogkitError as exc:  # the log, not the caller: a server error with the reason
            raise RpcError(REPLAY_ERROR, f"{name}: {exc}") from None
        except (ValueError, OverflowError) as exc:
            raise RpcError(INVALID_PARAMS, f"invalid params for {name}: {exc}") from None
        except Exception as exc:
            raise RpcError(INTERNAL_ERROR, f"internal error in {name}: {type(exc).__name__}: {exc}") from None
        try:
            try:
                return _dump_text(result)
            except ValueError:  # NaN or infinities, which JSON lacks: they answer null
                return _dump_text(_finite(result))
        except (TypeError, ValueError, RecursionError) as exc:
            raise RpcError(INTERNAL_ERROR, f"internal error in {name}: result is not JSON ({exc})") from None


def _error(rid: Any, exc: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": exc.to_json(), "id": rid}


def _finite(value: Any) -> Any:
    """`value` with NaN and infinities replaced by None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _dump_text(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


def _dump(data: Any) -> bytes:
    return _dump_text(data).encode()
