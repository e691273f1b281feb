"""The replayed device state, pure: the latest event of each kind and the RPC answers built from it.

The answers have exactly the shapes the live gateway's control API gives (see the
protocol notes): plain JSON numbers, lists and booleans, integers where it answers
integers. Before the first event of a kind, a method answers what the gateway answers
before the device first reports (0.0, [], all pins off, not connected): never null.
"""

from __future__ import annotations

import math
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
        "device_info",
    }
)

#: The camera frame shown last is kept too, for a viewer asking for it (`get_camera_frame`).
FRAME_KIND = "image"
#: Everything the replayed state follows.
TRACKED_KINDS: frozenset[str] = STATE_KINDS | {FRAME_KIND}

#: Electrode pins on the board (the length of every pin vector).
ELECTRODES = 128
#: Drive groups and capacitance scan groups the gateway reports in `get_electrode_pins`.
DRIVE_GROUPS = 2
SCAN_GROUPS = 5
#: Duty cycle given to an old log's plain `electrodes` vector: the old gateway drove them fully.
FULL_DUTY_CYCLE = 255
#: How far back (s) the first look for the state before a seek point goes; it grows until the log start.
FIRST_LOOKBACK = 2.0


def _float(value: float) -> float:
    return float(value)


def _count(value: float) -> int | None:
    """An ADC count, stored as a float in the log, as the JSON integer the gateway answers (None if not finite)."""
    return round(value) if math.isfinite(value) else None


def _pins(values: Any) -> list[bool]:
    pins = [bool(v) for v in values[:ELECTRODES]]
    return pins + [False] * (ELECTRODES - len(pins))


class DeviceState:
    """The latest event of each state kind, and the control API's answers from them.

    Answers are built once per event and kept, so a burst of calls costs one build.
    """

    def __init__(self, latest: dict[str, Event] | None = None) -> None:
        self.latest: dict[str, Event] = dict(latest or {})
        self._answers: dict[str, tuple[Event | None, Any]] = {}

    def update(self, event: Event) -> None:
        """Take in a replayed event (other kinds than the state kinds are ignored)."""
        if event.kind in TRACKED_KINDS:
            self.latest[event.kind] = event

    def copy(self) -> DeviceState:
        """A snapshot that later updates leave alone."""
        return DeviceState(self.latest)

    def _answer(self, name: str, kind: str, build: Any, default: Any) -> Any:
        event = self.latest.get(kind)
        cached = self._answers.get(name)
        if cached is None or cached[0] is not event:
            value = default() if event is None else build(getattr(event.message, kind))
            cached = self._answers[name] = (event, value)
        return cached[1]

    def scan_capacitance(self) -> dict[str, list[Any]]:
        """`get_scan_capacitance`: raw ADC counts (integers) and calibrated values of every electrode."""
        return self._answer(
            "scan",
            "scan_capacitance",
            lambda msg: {
                "raw": [_count(m.raw) for m in msg.measurements],
                "calibrated": [_float(m.capacitance) for m in msg.measurements],
            },
            lambda: {"raw": [], "calibrated": []},
        )

    def bulk_capacitance(self) -> list[float]:
        """`get_bulk_capacitance`: the calibrated scan values alone (the older name)."""
        return self.scan_capacitance()["calibrated"]

    def group_capacitance(self) -> dict[str, list[Any]]:
        """`get_group_capacitance`: raw counts (integers) and calibrated values of every capacitance group."""
        return self._answer(
            "group",
            "group_capacitance",
            lambda msg: {
                "raw": [_count(v) for v in msg.raw_measurements],
                "calibrated": [_float(v) for v in msg.measurements],
            },
            lambda: {"raw": [], "calibrated": []},
        )

    def active_capacitance(self) -> float:
        """`get_active_capacitance`: the calibrated active capacitance (0.0 before the first reading)."""
        return self._answer("active", "active_capacitance", lambda msg: float(msg.calibrated), lambda: 0.0)

    def electrode_pins(self) -> dict[str, list[dict[str, Any]]]:
        """`get_electrode_pins`: the pins and duty cycle of each drive group, the pins and setting of each
        scan group. An old log's `electrodes` vector is drive group 0."""
        return self._answer("pins", "electrode_state", _electrode_pins, lambda: _electrode_pins(None))

    def temperatures(self) -> list[float]:
        """`get_temperatures`: the latest temperatures ([] before the first reading)."""
        return self._answer(
            "temperatures", "temperature_control", lambda msg: list(map(_float, msg.temperatures)), list
        )

    def hv_supply_voltage(self) -> float:
        """`get_hv_supply_voltage`: the latest high-voltage supply reading (0.0 before the first)."""
        return self._answer("hv", "hv_regulator", lambda msg: float(msg.voltage), lambda: 0.0)

    def device_info(self) -> dict[str, Any]:
        """`get_device_info`: the latest device_info (not connected before the first)."""
        return self._answer(
            "device",
            "device_info",
            lambda msg: {
                "connected": bool(msg.connected),
                "serial_number": str(msg.serial_number),
                "software_version": str(msg.software_version),
            },
            lambda: {"connected": False, "serial_number": "", "software_version": ""},
        )

    def scan_gains(self) -> list[bool]:
        """`get_scan_gains`: a log holds no gains: every electrode on high gain (false), as the gateway starts."""
        return [False] * ELECTRODES


def _electrode_pins(msg: Any) -> dict[str, list[dict[str, Any]]]:
    drive: list[dict[str, Any]] = []
    scan: list[dict[str, Any]] = []
    if msg is not None:
        drive = [{"pins": _pins(g.electrodes), "duty_cycle": int(g.setting)} for g in msg.drive_groups[:DRIVE_GROUPS]]
        scan = [{"pins": _pins(g.electrodes), "setting": int(g.setting)} for g in msg.scan_groups[:SCAN_GROUPS]]
        if not msg.drive_groups and msg.electrodes:  # an old gateway's log: one vector of driven pins
            drive = [{"pins": _pins(msg.electrodes), "duty_cycle": FULL_DUTY_CYCLE}]
    drive += [{"pins": [False] * ELECTRODES, "duty_cycle": 0} for _ in range(DRIVE_GROUPS - len(drive))]
    scan += [{"pins": [False] * ELECTRODES, "setting": 0} for _ in range(SCAN_GROUPS - len(scan))]
    return {"drive_groups": drive, "scan_groups": scan}


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
