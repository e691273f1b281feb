"""The control API's methods: the gateway's read-only ones answered from the replayed state, and playback control.

Each public method of `GatewayMethods` is a JSON-RPC method of the same name; its
docstring's first line is its description in `GET /rpc/map`. Shapes are the live
gateway's (protocol notes); `state.DeviceState` builds them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .rpc import UNAVAILABLE, RpcError

if TYPE_CHECKING:
    from .server import ReplayServer


class GatewayMethods:
    """What `POST /rpc` answers, for one replay server (called on its event loop)."""

    def __init__(self, server: ReplayServer) -> None:
        self._server = server

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
