"""Replay a log as a fake gateway: its events re-emitted with their original timing, and the control API.

Modules: `schedule` (pure timing), `state` (pure replayed state), `rpc` (pure JSON-RPC),
`playback` (the asyncio engine), `server` (`ReplayServer`: websocket and HTTP), and
`pytest_plugin` (the `pdserver_replay` fixture).

    with ReplayServer("run.pdlz", speed=10) as server:
        ...  # connect to server.ws_url, call server.rpc_url
"""

from .playback import ReplayStats
from .server import DEFAULT_CLIENT_BUFFER, ReplayServer
from .state import DeviceState, state_at

__all__ = ["DEFAULT_CLIENT_BUFFER", "DeviceState", "ReplayServer", "ReplayStats", "state_at"]
