"""Replay a log as a fake gateway: its events re-emitted with their original timing, and the control API.

Modules, one concern each: `schedule` (pure timing), `state` (pure replayed state and
the gateway's answer shapes), `rpc` (JSON-RPC dispatch), `methods` (the gateway's
methods), `readahead` (reading the log in threads), `playback` (the asyncio engine),
`clients` (websocket clients and their bounds), `http` (the control API, aiohttp),
`pages` (web UI and status page), `server` (`ReplayServer`, the facade), and
`pytest_plugin` (the `pdserver_replay` fixture).

    with ReplayServer("run.pdlz", speed=10) as server:
        ...  # connect to server.ws_url, call server.rpc_url
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .clients import DEFAULT_CLIENT_BUFFER
from .playback import ReplayStats
from .state import DeviceState, state_at

if TYPE_CHECKING:
    from .server import ReplayServer

__all__ = ["DEFAULT_CLIENT_BUFFER", "DeviceState", "ReplayServer", "ReplayStats", "state_at"]


def __getattr__(name: str) -> Any:
    """`ReplayServer` is imported when first asked for: it brings aiohttp, which most commands do not need."""
    if name == "ReplayServer":
        from .server import ReplayServer

        return ReplayServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
