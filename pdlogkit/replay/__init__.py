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

from .playback import ReplayStats
from .server import DEFAULT_CLIENT_BUFFER, ReplayServer
from .state import DeviceState, state_at

__all__ = ["DEFAULT_CLIENT_BUFFER", "DeviceState", "ReplayServer", "ReplayStats", "state_at"]
