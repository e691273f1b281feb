"""What the timeline figure shows, read from a log's tables: the one place the figure reads data through.

Everything comes from the tables of `pdlogkit.export` (`log.table(kind, ...)`:
the `activations` table and a table per sensor kind), so the figure shows exactly
what a script reading those tables sees, and reads as little: only the chunks of the
plotted kinds (a container's camera frames are never read), decoded in bulk. Every
series is in seconds from the log's start, on the log's clock (the receive time
where the log holds one, else the embedded timestamps, carried forward), so panels,
markers and gaps line up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..log import Log, TimeBound
from . import PLOT_KINDS


@dataclass
class Series:
    """Samples at times `t` (seconds from the log's start): `values` has a row per sample, NaN where missing."""

    t: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.t)


@dataclass
class Activations:
    """Electrode drive intervals: electrode (pin), drive group, and start and end (seconds from the log's start)."""

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
    scan: Series | None = None  # a column per electrode: calibrated capacitance
    active: Series | None = None  # one column: calibrated
    groups: Series | None = None  # a column per group: calibrated
    hv: Series | None = None  # columns: voltage, v_target_out
    temperatures: Series | None = None  # a column per channel
    heater_duty: Series | None = None  # a column per channel: the temperature control's duty cycles
    markers: list[tuple[float, str]] = field(default_factory=list)
    gaps: list[tuple[float, float]] = field(default_factory=list)
    activity: list[tuple[float, float]] = field(default_factory=list)  # periods of activity

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


def gather(
    log: Log,
    kinds: Iterable[str] = PLOT_KINDS,
    start: TimeBound = None,
    end: TimeBound = None,
    *,
    activity: bool = True,
) -> TimelineData:
    """Read what the figure shows of `kinds` in the window [start, end) of `log`, from its tables; with
    `activity`, the periods of activity too."""
    wanted = set(kinds)
    summary = log.summary()
    origin = log.start_ns if log.start_ns is not None else summary.start_ns
    lo, hi = log.window_ns(start, end)
    first = lo if lo is not None else origin
    last = hi if hi is not None else summary.end_ns
    zero = origin or 0

    def seconds(t_ns: Any) -> Any:
        return (np.asarray(t_ns, np.int64) - zero) / 1e9

    span = (float(seconds(first)) if first is not None else 0.0, float(seconds(last)) if last is not None else 0.0)
    data = TimelineData(name=log.path, origin_ns=origin, span=span, duration=summary.duration)

    def table(kind: str, columns: list[str]) -> dict[str, np.ndarray] | None:
        """The table's columns as numpy arrays (times in seconds from the start), None if it has no rows."""
        if kind not in wanted and not (kind == "activations" and "electrode_state" in wanted):
            return None
        got = log.table(kind, start=start, end=end, columns=columns)
        if not got.num_rows:
            return None
        return {name: _numpy(got.column(name), seconds) for name in columns}

    if (rows := table("activations", ["electrode", "drive_group", "start", "end"])) is not None:
        begun, ended = rows["start"], rows["end"]
        data.activations = Activations(
            rows["electrode"].astype(int),
            rows["drive_group"].astype(int),
            np.where(np.isnan(begun), span[0], begun),
            np.where(np.isnan(ended), max(span[1], float(np.nanmax(begun, initial=span[0]))), ended),
        )
    if (rows := table("scan_capacitance", ["time", "electrode", "capacitance"])) is not None:
        data.scan = _wide(rows["time"], rows["electrode"], rows["capacitance"])
    if (rows := table("active_capacitance", ["time", "calibrated"])) is not None:
        data.active = Series(rows["time"], rows["calibrated"].reshape(-1, 1))
    if (rows := table("group_capacitance", ["time", "group", "calibrated"])) is not None:
        data.groups = _wide(rows["time"], rows["group"], rows["calibrated"])
    if (rows := table("hv_regulator", ["time", "voltage", "v_target_out"])) is not None:
        data.hv = Series(rows["time"], np.column_stack([rows["voltage"], rows["v_target_out"]]))
    if (rows := table("temperature_control", ["time", "channel", "temperature", "duty_cycle"])) is not None:
        data.temperatures = _wide(rows["time"], rows["channel"], rows["temperature"])
        duty = _wide(rows["time"], rows["channel"], rows["duty_cycle"])
        data.heater_duty = duty if np.isfinite(duty.values).any() else None
    data.markers = [
        (float(seconds(m.time_ns)), m.text)
        for m in log.markers()
        if (lo is None or m.time_ns >= lo) and (hi is None or m.time_ns < hi)
    ]
    if summary.start_ns is not None:
        shift = (summary.start_ns - zero) / 1e9
        data.gaps = [(a + shift, b + shift) for a, b in summary.gaps]
    if activity and origin is not None:
        data.activity = _activity(log, hi, seconds, span)
    return data


def _activity(log: Log, hi: int | None, seconds: Any, span: tuple[float, float]) -> list[tuple[float, float]]:
    """The periods of activity as `pdlogkit activity` finds them with its defaults (electrode moves and
    markers; PRE_ROLL before, POST_ROLL after), cut at the log's ends. Only the electrode states are read,
    from the log's start (the first one is the baseline), as the activations table reads them."""
    from ..activity import PRE_ROLL
    from ..ops import activity_windows

    until = None if hi is None else hi + round(PRE_ROLL * 1e9)
    until_s = None if until is None else (until - (log.start_ns or 0)) / 1e9
    windows = activity_windows(log, end=until_s)
    log_end = float(seconds(log.summary().end_ns)) if log.summary().end_ns is not None else span[1]
    periods = [(max(0.0, float(seconds(w.start_ns))), min(log_end, float(seconds(w.end_ns)))) for w in windows]
    return [(a, b) for a, b in periods if a < span[1] and b > span[0]]


def _numpy(column: Any, seconds: Any) -> np.ndarray:
    """An Arrow column as numpy: times in seconds from the log's start, numbers as floats, nulls as NaN."""
    import pyarrow as pa  # type: ignore[import-untyped]

    if pa.types.is_timestamp(column.type):
        ns = column.cast(pa.int64())
        values = seconds(ns.fill_null(0).to_numpy())
        return np.where(ns.is_null().to_numpy(zero_copy_only=False), np.nan, values)  # type: ignore[no-any-return]
    return column.to_numpy(zero_copy_only=False).astype(float)  # type: ignore[no-any-return]


def _wide(times: np.ndarray, index: np.ndarray, values: np.ndarray) -> Series:
    """A long table (a row per electrode, group or channel of each event) as a row per event: an event's rows
    are consecutive, their index increasing, so a new event starts wherever the index does not increase."""
    index = index.astype(int)
    event = np.concatenate([[0], np.cumsum(np.diff(index) <= 0)])
    wide = np.full((int(event[-1]) + 1, int(index.max()) + 1), np.nan)
    wide[event, index] = values
    starts = np.flatnonzero(np.concatenate([[True], np.diff(event) > 0]))
    return Series(times[starts], wide)


__all__ = ["Activations", "Series", "TimelineData", "gather"]
