"""What the timeline figure shows, gathered from a log: the one place the figure reads data through.

Every series is in seconds from the log's start, on the log's clock (the receive
time where the log holds one, else the embedded timestamps, carried forward for the
events that have none), so panels, markers and gaps line up. Only the kinds asked
for are read: a container's image chunks are never touched.

The electrode activations (drive intervals per pin) and the sensor series are read
here from the events until the tables of the export issue (`log.table(kind, ...)`,
with its `activations` table) are in main; then `gather` reads those instead, and
nothing else changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import LogFormatError
from ..log import Log, TimeBound
from . import PLOT_KINDS

#: Drive groups a PurpleDrop reports.
DRIVE_GROUPS = 2


@dataclass
class Series:
    """Samples at times `t` (seconds from the log's start): `values` has a row per sample."""

    t: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.t)


@dataclass
class Activations:
    """Electrode drive intervals: pin, drive group, and start and end (seconds from the log's start)."""

    pin: np.ndarray
    group: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.pin)


@dataclass
class TimelineData:
    """Everything one timeline figure shows, in seconds from the log's start (`origin_ns`)."""

    name: str
    origin_ns: int | None  # the log's start (Unix ns); None for a log with no time at all
    span: tuple[float, float]  # the x range: the window asked for, or the log's whole span
    duration: float = 0.0  # the whole log's, in seconds
    activations: Activations | None = None
    scan: Series | None = None  # values: one column per electrode (calibrated capacitance)
    active: Series | None = None  # values: calibrated, one column
    groups: Series | None = None  # values: one column per group (calibrated)
    hv: Series | None = None  # values: voltage, v_target_out
    temperatures: Series | None = None  # values: the temperatures (one column per sensor)
    heater_duty: Series | None = None  # values: the temperature control's duty cycles
    markers: list[tuple[float, str]] = field(default_factory=list)
    gaps: list[tuple[float, float]] = field(default_factory=list)
    unreadable: int = 0  # events that did not parse (left out)

    @property
    def kinds(self) -> list[str]:
        """The plotted kinds the window holds, in panel order."""
        present = {
            "electrode_state": self.activations,
            "scan_capacitance": self.scan,
            "active_capacitance": self.active,
            "group_capacitance": self.groups,
            "hv_regulator": self.hv,
            "temperature_control": self.temperatures,
        }
        return [kind for kind in PLOT_KINDS if present[kind] is not None]


def _series(rows: list[tuple[float, Any]], width: int | None = None) -> Series | None:
    """A `Series` of (t, values) rows; rows of fewer values are padded with NaN up to the widest."""
    if not rows:
        return None
    t = np.array([r[0] for r in rows], float)
    samples = [r[1] for r in rows]
    if width == 1:
        return Series(t, np.array(samples, float).reshape(-1, 1))
    lengths = {len(s) for s in samples}
    columns = width or max(lengths)
    if lengths == {columns}:  # the usual case: every row as wide
        return Series(t, np.array(samples, float))
    values = np.full((len(rows), columns), np.nan)
    for i, sample in enumerate(samples):
        values[i, : min(columns, len(sample))] = sample[:columns]
    return Series(t, values)


def gather(log: Log, kinds: Iterable[str] = PLOT_KINDS, start: TimeBound = None, end: TimeBound = None) -> TimelineData:
    """Read what the figure shows of `kinds` in the window [start, end) of `log`."""
    wanted = [k for k in PLOT_KINDS if k in set(kinds)]
    summary = log.summary()
    origin = log.start_ns if log.start_ns is not None else summary.start_ns
    lo, hi = log.window_ns(start, end)
    first = lo if lo is not None else origin
    last = hi if hi is not None else summary.end_ns

    def seconds(t_ns: int) -> float:
        return (t_ns - (origin or 0)) / 1e9

    span = (seconds(first) if first is not None else 0.0, seconds(last) if last is not None else 0.0)
    data = TimelineData(name=log.path, origin_ns=origin, span=span, duration=summary.duration)
    rows: dict[str, list[tuple[float, Any]]] = {k: [] for k in ("scan", "active", "groups", "hv", "temps", "duty")}
    switches: list[tuple[float, tuple[frozenset[int], ...]]] = []
    if "electrode_state" in wanted and lo is not None:
        before = _state_before(log, start)
        if before is not None:
            switches.append((span[0], before))
    for t_ns, event in log.timed_events(kinds=wanted, start=start, end=end) if wanted else ():
        if t_ns is None:
            continue
        t = seconds(t_ns)
        try:
            message = event.message
            kind = event.kind
            if kind == "electrode_state":
                switches.append((t, _driven(message.electrode_state)))
            elif kind == "scan_capacitance":
                rows["scan"].append((t, [m.capacitance for m in message.scan_capacitance.measurements]))
            elif kind == "active_capacitance":
                rows["active"].append((t, message.active_capacitance.calibrated))
            elif kind == "group_capacitance":
                rows["groups"].append((t, list(message.group_capacitance.measurements)))
            elif kind == "hv_regulator":
                hv = message.hv_regulator
                rows["hv"].append((t, (hv.voltage, hv.v_target_out)))
            elif kind == "temperature_control":
                control = message.temperature_control
                rows["temps"].append((t, list(control.temperatures)))
                rows["duty"].append((t, list(control.duty_cycles)))
        except LogFormatError:
            data.unreadable += 1
    if "electrode_state" in wanted and switches:
        data.activations = _intervals(switches, max(span[1], switches[-1][0]))
    data.scan = _series(rows["scan"])
    data.active = _series(rows["active"], 1)
    data.groups = _series(rows["groups"])
    data.hv = _series(rows["hv"], 2)
    data.temperatures = _series(rows["temps"])
    data.heater_duty = _series(rows["duty"]) if any(len(r[1]) for r in rows["duty"]) else None
    if data.temperatures is not None and data.temperatures.values.shape[1] == 0:
        data.temperatures = None
    data.markers = [
        (seconds(m.time_ns), m.text)
        for m in log.markers()
        if (lo is None or m.time_ns >= lo) and (hi is None or m.time_ns < hi)
    ]
    data.gaps = [
        (a + (summary.start_ns - origin) / 1e9, b + (summary.start_ns - origin) / 1e9)
        for a, b in summary.gaps
        if origin is not None and summary.start_ns is not None
    ]
    return data


def _state_before(log: Log, start: TimeBound) -> tuple[frozenset[int], ...] | None:
    """The electrodes driven when the window starts: the last electrode_state before it (a stream, read
    once, cannot tell)."""
    try:
        earlier = log.reopen()
    except ValueError:
        return None
    with earlier:
        last = None
        for event in earlier.events(kinds=["electrode_state"], end=start):
            last = event
        try:
            return _driven(last.message.electrode_state) if last is not None else None
        except LogFormatError:
            return None


def _driven(state: Any) -> tuple[frozenset[int], ...]:
    """The pins of each drive group (an old log's lone `electrodes` as group A)."""
    groups = [frozenset(i for i, on in enumerate(g.electrodes) if on) for g in state.drive_groups]
    if not groups:
        groups = [frozenset(i for i, on in enumerate(state.electrodes) if on)]
    return tuple((groups + [frozenset()] * DRIVE_GROUPS)[:DRIVE_GROUPS])


def _intervals(switches: list[tuple[float, tuple[frozenset[int], ...]]], until: float) -> Activations | None:
    """Drive intervals from the electrode states in order: a pin is driven from the state that turns it on
    to the one that turns it off (or `until`, for one still on at the end)."""
    on: dict[tuple[int, int], float] = {}
    pins, groups, starts, ends = [], [], [], []
    for t, driven in switches:
        now = {(pin, g) for g, group in enumerate(driven) for pin in group}
        for key in [k for k in on if k not in now]:
            pins.append(key[0])
            groups.append(key[1])
            starts.append(on.pop(key))
            ends.append(t)
        for key in now:
            on.setdefault(key, t)
    for (pin, g), began in on.items():
        pins.append(pin)
        groups.append(g)
        starts.append(began)
        ends.append(max(until, began))
    if not pins:
        return None
    return Activations(np.array(pins, int), np.array(groups, int), np.array(starts, float), np.array(ends, float))


__all__ = ["Activations", "Series", "TimelineData", "gather"]
