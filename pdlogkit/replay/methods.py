"""The control API's methods: the gateway's read-only ones answered from the replayed state, playback control,
and what the viewer asks beyond them (the log's markers, activity and the camera frame at the playback time).

Each public method of `GatewayMethods` is a JSON-RPC method of the same name; its
docstring's first line is its description in `GET /rpc/map`. Shapes are the live
gateway's (protocol notes); `state.DeviceState` builds them. The viewer's methods are
not the gateway's (a live gateway answers them -32601); they read the log in a thread
(`overview`), the markers and activity once per replay.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import overview
from .pages import printable
from .rpc import UNAVAILABLE, RpcError
from .state import FRAME_KIND

if TYPE_CHECKING:
    from .server import ReplayServer


class GatewayMethods:
    """What `POST /rpc` answers, for one replay server (called on its event loop)."""

    def __init__(self, server: ReplayServer) -> None:
        self._server = server
        self._once: dict[str, asyncio.Task[Any]] = {}  # the markers and activity, read once

    def table(self) -> dict[str, Callable[..., Any]]:
        """Method name -> bound method, for the dispatcher."""
        return {
            name: getattr(self, name)
            for name, fn in inspect.getmembers(type(self), inspect.isfunction)
            if not name.startswith("_") and name != "table"
        }

    # --- the gateway's read-only methods ------------------------------------------

    def get_board_definition(self) -> Any:
        """The electrode board: layout grids and peripherals, and the oversized electrodes."""
        board = self._server.board
        if board is None:
            raise RpcError(UNAVAILABLE, self._server.board_missing)
        return board.gateway_definition()

    def get_device_info(self) -> Any:
        """connected, serial_number and software_version from the latest device_info."""
        return self._server.current_state().device_info()

    def get_parameter_definitions(self) -> Any:
        """Device parameters: none when replaying."""
        return {"parameters": []}

    def get_parameter(self, id: int) -> Any:
        """A device parameter's value: a log does not record them."""
        raise RpcError(
            UNAVAILABLE, f"parameter {id!r} is not known: a replay has no device, and logs hold no parameters"
        )

    def get_scan_gains(self) -> Any:
        """The scan gain of each electrode (false: high gain); a log holds none: all high gain."""
        return self._server.current_state().scan_gains()

    def get_scan_capacitance(self) -> Any:
        """Raw (integer counts) and calibrated capacitance of every electrode, from the latest scan_capacitance."""
        return self._server.current_state().scan_capacitance()

    def get_bulk_capacitance(self) -> Any:
        """Calibrated capacitance of every electrode (older name)."""
        return self._server.current_state().bulk_capacitance()

    def get_group_capacitance(self) -> Any:
        """Raw (integer counts) and calibrated capacitance of each group, from the latest group_capacitance."""
        return self._server.current_state().group_capacitance()

    def get_active_capacitance(self) -> Any:
        """Calibrated active capacitance, from the latest active_capacitance."""
        return self._server.current_state().active_capacitance()

    def get_electrode_pins(self) -> Any:
        """Drive groups (pins, duty_cycle) and scan groups (pins, setting) of the latest electrode_state."""
        return self._server.current_state().electrode_pins()

    def get_temperatures(self) -> Any:
        """Temperatures from the latest temperature_control."""
        return self._server.current_state().temperatures()

    def get_hv_supply_voltage(self) -> Any:
        """High-voltage supply from the latest hv_regulator."""
        return self._server.current_state().hv_supply_voltage()

    # --- playback control ---------------------------------------------------------

    async def playback_seek(self, seconds: float) -> Any:
        """Continue playback from `seconds` after the log start."""
        return await self._server.seek_async(seconds)

    async def playback_enable(self, enable: bool) -> Any:
        """Resume (true) or pause (false) playback."""
        return await self._server.set_playing_async(enable)

    def playback_speed(self, speed: float) -> Any:
        """Set the speed factor (1: real time, 0: as fast as clients take it)."""
        return self._server.set_speed_async(speed)

    def playback_status(self) -> Any:
        """time, duration, playing, speed, clients and counters."""
        return self._server.status_now()

    # --- for the viewer: not the gateway's (a live gateway answers -32601) -----------

    def get_replay_info(self) -> Any:
        """The replay: the log's file name, the event stream's port, and the Unix time (s) of position 0."""
        server = self._server
        source = server.source
        return {
            "log": printable(os.path.basename(source.log.path)),
            "ws_port": server.ws_port,
            "origin": source.origin_ns / 1e9 if source.origin_ns else None,
        }

    async def get_markers(self) -> Any:
        """The log's markers in time order: time (s from the log start), text and fields."""
        return await self._read_once("markers", lambda: overview.markers(self._server.source))

    async def get_activity(self) -> Any:
        """The log's periods of activity: start, end, first, last (s from the log start), moves, electrodes."""
        source, stop = self._server.source, self._server.stopping
        return await self._read_once("activity", lambda: overview.activity(source, stop))

    def get_camera_frame(self) -> Any:
        """The camera frame at the playback time: time, timestamp and the JPEG (base64); null before the first."""
        server = self._server
        return overview.camera_frame(server.source, server.current_state().latest.get(FRAME_KIND))

    async def _read_once(self, name: str, read: Callable[[], Any]) -> Any:
        """`read()` in a thread the first time; every later call (and every call meanwhile) shares its answer."""
        task = self._once.get(name)
        if task is None or task.cancelled():
            task = self._once[name] = self._server.read_in_thread(read)
        return await asyncio.shield(task)
