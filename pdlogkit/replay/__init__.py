"""Replay a log as a fake gateway: its events re-emitted with their original timing, and the control API.

with ReplayServer("run.pdlz", speed=10) as server:
    ...  # connect to server.ws_url, call server.rpc_url
"""

from .server import DEFAULT_CLIENT_BUFFER, ReplayServer, ReplayStats
from .state import DeviceState, state_at

__all__ = ["DEFAULT_CLIENT_BUFFER", "DeviceState", "ReplayServer", "ReplayStats", "state_at"]
