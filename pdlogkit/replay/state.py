"""The replayed device state, pure: the latest event of each kind and the RPC answers built from it.

The answers have exactly the shapes the gateway's control API gives (see the
protocol notes): plain JSON numbers, lists and booleans.
"""

from __future__ import annotations

from typing import Any

from ..events import Event
from ..log import Log

#: The kinds the read-only control methods answer from.
STATE_KINDS: frozenset[str] = frozenset(
    {
        "electrode_state",
        "scan_capacitance",
        "group_capacitance",
        "active_capacitance",
        "temperature_control",
        "hv_regulator",
    }
)

#: Electrodes on the board (the length of `get_electrode_pins`).
ELECTRODES = 128
#: How far back (s) the first look for the state before a seek point goes; it doubles until the log start.
FIRST_LOOKBACK = 2.0


def _floats(values: Any) -> list[float]:
    return [float(v) for v in values]


class DeviceState:
    """The latest event of each state kind, and the control API's answers from them.

    A method whose kind has not been replayed yet answers None (JSON null), as
    the gateway does before the device reports.
    """

    def __init__(self, latest: dict[str, Event] | None = None) -> None:
        self.latest: dict[str, Event] = dict(latest or {})

    def update(self, event: Event) -> None:
        """Take in a replayed event (other kinds than the state kinds are ignored)."""
        if event.kind in STATE_KINDS:
            self.latest[event.kind] = event

    def _message(self, kind: str) -> Any:
        event = self.latest.get(kind)
        return None if event is None else getattr(event.message, kind)

    def scan_capacitance(self) -> dict[str, list[float]] | None:
        """`get_scan_capacitance`: raw and calibrated values of every electrode."""
        msg = self._message("scan_capacitance")
        if msg is None:
            return None
        return {
            "raw": [float(m.raw) for m in msg.measurements],
            "calibrated": [float(m.capacitance) for m in msg.measurements],
        }

    def bulk_capacitance(self) -> list[float] | None:
        """`get_bulk_capacitance`: the calibrated scan values alone (the older name)."""
        scan = self.scan_capacitance()
        return None if scan is None else scan["calibrated"]

    def group_capacitance(self) -> dict[str, list[float]] | None:
        """`get_group_capacitance`: raw and calibrated values of every capacitance group."""
        msg = self._message("group_capacitance")
        if msg is None:
            return None
        return {"raw": _floats(msg.raw_measurements), "calibrated": _floats(msg.measurements)}

    def active_capacitance(self) -> float | None:
        """`get_active_capacitance`: the calibrated active capacitance."""
        msg = self._message("active_capacitance")
        return None if msg is None else float(msg.calibrated)

    def electrode_pins(self) -> list[bool] | None:
        """`get_electrode_pins`: the energized electrodes (drive group 0 when `electrodes` is empty)."""
        msg = self._message("electrode_state")
        if msg is None:
            return None
        if msg.electrodes:
            return [bool(e) for e in msg.electrodes]
        if msg.drive_groups:
            return [bool(e) for e in msg.drive_groups[0].electrodes]
        return [False] * ELECTRODES  # nothing driven

    def temperatures(self) -> list[float] | None:
        """`get_temperatures`: the latest temperatures."""
        msg = self._message("temperature_control")
        return None if msg is None else _floats(msg.temperatures)

    def hv_supply_voltage(self) -> float | None:
        """`get_hv_supply_voltage`: the latest high-voltage supply reading."""
        msg = self._message("hv_regulator")
        return None if msg is None else float(msg.voltage)


def state_at(log: Log, seconds: float, kinds: frozenset[str] = STATE_KINDS) -> DeviceState:
    """The state at `seconds` from the log start: the latest event of each kind before it.

    With an index, looks back in growing windows `[t - w, t)` (index lookups; the last
    state may be minutes old); without one, a single forward pass up to `t`.
    """
    state = DeviceState()
    if not log.has_index:
        for event in log.events(kinds=kinds, end=seconds):
            state.latest[event.kind] = event
        return state
    missing = set(kinds)
    end = seconds
    width = FIRST_LOOKBACK
    while missing and end > 0:
        begin = max(0.0, seconds - width)
        found: dict[str, Event] = {}
        for event in log.events(kinds=missing, start=begin, end=end):
            found[event.kind] = event
        for kind, event in found.items():
            state.latest[kind] = event
            missing.discard(kind)
        end = begin
        width *= 4
    return state
