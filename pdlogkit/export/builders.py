"""Tables from events: a batch of events of one kind becomes an Arrow record batch (pure).

The sensor kinds (many small messages, many measurements each) are decoded
from the wire with numpy (`wire`), a batch at a time: no Python object per
measurement and no protobuf parse. The rare kinds (electrode_state, device_info,
...) are parsed with protobuf, one event at a time. `ImageIndex` and
`Activations` keep state from event to event (the frame size before an image,
which electrodes are driven), so they are classes fed events in log order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]

from ..errors import LogFormatError
from ..events import KINDS, TIMESTAMP_FIELD, parse_event, timestamp_ns
from ..markers import Marker
from . import wire
from .images import image_data
from .schemas import table_schema

Times = Sequence[int | None]
Payloads = Sequence[bytes]
Offsets = Sequence[int | None]

_I64 = np.int64
#: |seconds| past this does not fit nanoseconds in int64 (year 2262): such a timestamp is null.
_MAX_SECONDS = 9_000_000_000


def _nullable_ns(values: Times) -> pa.Array:
    """Unix ns (or None) as a UTC timestamp array."""
    return pa.array(values, type=pa.int64()).cast(pa.timestamp("ns", tz="UTC"))


def _stamp_array(ns: np.ndarray, missing: np.ndarray) -> pa.Array:
    return pa.array(ns, type=pa.int64(), mask=missing if missing.any() else None).cast(pa.timestamp("ns", tz="UTC"))


def _array(values: np.ndarray, type_: pa.DataType, missing: np.ndarray | None = None) -> pa.Array:
    mask = missing if missing is not None and missing.any() else None
    return pa.array(values, type=type_, mask=mask)


class _Wire:
    """One batch of payloads of a kind, walked down to the kind's message: the fields every builder starts from."""

    def __init__(self, kind: str, payloads: Payloads, offsets: Offsets, path: str | None) -> None:
        self.n = n = len(payloads)
        self._payloads, self._offsets, self._path = payloads, offsets, path
        self.buf, starts, ends = wire.pack(payloads)
        top, self.bad = wire.walk(self.buf, starts, ends)
        parts = top.select(KINDS.index(kind) + 1, 2)  # every occurrence of the oneof field: they merge
        self.body, _ = self.walk(parts)
        ts_field = TIMESTAMP_FIELD[kind]
        if ts_field is None:
            self.stamp: tuple[np.ndarray, np.ndarray] | None = None
            return
        ts = self.body.select(ts_field, 2)
        inner, _ = self.walk(ts)
        seconds = inner.select(1, 0)
        nanos = inner.select(2, 0)
        sec = wire.last(seconds.owner, seconds.value.view(_I64), n, 0)
        nsec = wire.last(nanos.owner, (nanos.value & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32), n, 0)
        missing = ((sec == 0) & (nsec == 0)) | (np.abs(sec) > _MAX_SECONDS)
        self.stamp = (np.where(missing, 0, sec) * 1_000_000_000 + nsec.astype(_I64), missing)

    def walk(self, parts: wire.Fields) -> tuple[wire.Fields, np.ndarray]:
        """The fields inside the length-delimited `parts`, owned by the events holding them."""
        fields, bad = wire.walk(self.buf, parts.start, parts.start + parts.length)
        fields.owner = parts.owner[fields.owner]
        self._flag(parts.owner[bad])
        return fields, bad

    def _flag(self, owners: np.ndarray) -> None:
        if owners.size:
            self.bad[owners] = True

    def check(self, *broken: np.ndarray) -> None:
        """Raise `LogFormatError` (with the offset) for the first event that is not a valid message."""
        for owners in broken:
            self._flag(owners)
        if not self.bad.any():
            return
        i = int(np.flatnonzero(self.bad)[0])
        offset = self._offsets[i]
        parse_event(self._payloads[i], offset=offset, path=self._path)  # raises with protobuf's reason
        raise LogFormatError("payload is not wire format the table reader can decode", path=self._path, offset=offset)

    def float32(self, number: int) -> np.ndarray:
        """A singular float field of every event (its last occurrence; 0.0 where absent, as protobuf reads it)."""
        f = self.body.select(number, 5)
        return wire.last(f.owner, wire.fixed32(self.buf, f.start), self.n, 0.0)

    def head(self, times: Times, rows_per_event: np.ndarray | None = None) -> list[pa.Array]:
        """The `time` and `timestamp` columns, repeated `rows_per_event` times per event."""
        try:
            t = np.array(times, dtype=_I64)
            t_missing = np.zeros(self.n, dtype=bool)
        except TypeError:  # some events without a time (a log with none at its start)
            t = np.array([0 if x is None else x for x in times], dtype=_I64)
            t_missing = np.array([x is None for x in times], dtype=bool)
        assert self.stamp is not None
        stamp, s_missing = self.stamp
        if rows_per_event is not None:
            t, t_missing, stamp, s_missing = (np.repeat(a, rows_per_event) for a in (t, t_missing, stamp, s_missing))
        return [_stamp_array(t, t_missing), _stamp_array(stamp, s_missing)]


def _spread(owner: np.ndarray, values: np.ndarray, first_row: np.ndarray, total: int) -> tuple[np.ndarray, ...]:
    """Values of a repeated field placed on rows first_row[event] + position: (column, missing)."""
    column = np.zeros(total, dtype=values.dtype)
    missing = np.ones(total, dtype=bool)
    rows = first_row[owner] + wire.rank(owner)
    column[rows] = values
    missing[rows] = False
    return column, missing


def _per_measurement(w: _Wire, times: Times, numbers: tuple[int, int], schema: pa.Schema) -> pa.RecordBatch:
    """Rows of repeated float fields side by side (one row per position, nulls where one is shorter)."""
    found = []
    broken = []
    counts = np.zeros(w.n, dtype=_I64)
    for number in numbers:
        owner, values, bad = wire.repeated_fixed32(w.buf, w.body, number)
        found.append((owner, values))
        broken.append(bad)
        counts = np.maximum(counts, np.bincount(owner, minlength=w.n))
    w.check(*broken)
    total = int(counts.sum())
    first_row = np.cumsum(counts) - counts
    arrays = w.head(times, counts)
    arrays.append(_array(wire.rank(np.repeat(np.arange(w.n), counts)).astype(np.int16), pa.int16()))
    for owner, values in found:
        column, missing = _spread(owner, values, first_row, total)
        arrays.append(_array(column, pa.float32(), missing))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _scan_capacitance(w: _Wire, times: Times, schema: pa.Schema) -> pa.RecordBatch:
    measurements = w.body.select(2, 2)
    w.check()
    inner, bad = wire.walk(w.buf, measurements.start, measurements.start + measurements.length)
    w.check(measurements.owner[bad])
    m = len(measurements)
    cap = inner.select(1, 5)
    drop = inner.select(2, 0)
    raw = inner.select(3, 5)
    counts = np.bincount(measurements.owner, minlength=w.n)
    arrays = w.head(times, counts)
    arrays += [
        _array(wire.rank(measurements.owner).astype(np.int16), pa.int16()),
        _array(wire.last(cap.owner, wire.fixed32(w.buf, cap.start), m, 0.0), pa.float32()),
        _array(wire.last(raw.owner, wire.fixed32(w.buf, raw.start), m, 0.0), pa.float32()),
        _array(wire.last(drop.owner, drop.value != 0, m, False), pa.bool_()),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _one_row(numbers: list[int]) -> Callable[[_Wire, Times, pa.Schema], pa.RecordBatch]:
    """A builder of one row per event from singular float fields."""

    def build(w: _Wire, times: Times, schema: pa.Schema) -> pa.RecordBatch:
        w.check()
        arrays = w.head(times)
        arrays += [_array(w.float32(number), pa.float32()) for number in numbers]
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    return build


def _duty_cycle_updated(w: _Wire, times: Times, schema: pa.Schema) -> pa.RecordBatch:
    owner, values, bad = wire.repeated_varint(w.buf, w.body, 2)
    w.check(bad)
    counts = np.bincount(owner, minlength=w.n)
    arrays = w.head(times, counts)
    arrays.append(_array(wire.rank(owner).astype(np.int16), pa.int16()))
    arrays.append(_array((values & np.uint64(0xFFFFFFFF)).astype(np.uint32), pa.uint32()))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


_WIRE_BUILDERS: dict[str, Callable[[_Wire, Times, pa.Schema], pa.RecordBatch]] = {
    "scan_capacitance": _scan_capacitance,
    "active_capacitance": _one_row([3, 4, 5]),  # baseline, measurement, calibrated
    "hv_regulator": _one_row([1, 2]),  # voltage, v_target_out
    "settings": _one_row([2]),  # frequency
    "group_capacitance": lambda w, t, s: _per_measurement(w, t, (2, 3), s),  # calibrated, raw
    "temperature_control": lambda w, t, s: _per_measurement(w, t, (1, 2), s),  # temperatures, duty cycles
    "duty_cycle_updated": _duty_cycle_updated,
}


# ---------------------------------------------------------------- kinds parsed with protobuf (rare events)


def _stamp_of(message: Any) -> int | None:
    if not message.HasField("timestamp"):
        return None
    ts = message.timestamp
    return ts.seconds * 1_000_000_000 + ts.nanos if (ts.seconds or ts.nanos) else None


def _parsed(kind: str, payloads: Payloads, offsets: Offsets, path: str | None) -> list[Any]:
    return [getattr(parse_event(p, offset=o, path=path), kind) for p, o in zip(payloads, offsets, strict=True)]


def _electrode_state(times: Times, payloads: Payloads, offsets: Offsets, path: str | None) -> dict[str, list]:
    cols: dict[str, list] = {n: [] for n in ("time", "timestamp", "group_type", "group", "setting", "electrodes")}
    for t, msg in zip(times, _parsed("electrode_state", payloads, offsets, path), strict=True):
        groups: list[tuple[str, int, int | None, Any]] = []
        drive = list(msg.drive_groups)
        if drive:
            groups += [("drive", g, grp.setting, grp.electrodes) for g, grp in enumerate(drive)]
        elif len(msg.electrodes):
            groups.append(("drive", 0, None, msg.electrodes))  # old gateways: drive group 0
        groups += [("scan", g, grp.setting, grp.electrodes) for g, grp in enumerate(msg.scan_groups)]
        stamp = _stamp_of(msg)
        for group_type, g, setting, pins in groups:
            cols["time"].append(t)
            cols["timestamp"].append(stamp)
            cols["group_type"].append(group_type)
            cols["group"].append(g)
            cols["setting"].append(setting)
            cols["electrodes"].append([i for i, on in enumerate(pins) if on])
    return cols


def _image_transform(times: Times, payloads: Payloads, offsets: Offsets, path: str | None) -> dict[str, list]:
    msgs = _parsed("image_transform", payloads, offsets, path)
    return {
        "time": list(times),
        "timestamp": [_stamp_of(m) for m in msgs],
        "width": [m.image_width for m in msgs],
        "height": [m.image_height for m in msgs],
        "transform": [list(m.transform) for m in msgs],
        "qr_codes": [len(m.qr_codes) for m in msgs],
    }


def _device_info(times: Times, payloads: Payloads, offsets: Offsets, path: str | None) -> dict[str, list]:
    msgs = _parsed("device_info", payloads, offsets, path)
    return {
        "time": list(times),
        "connected": [m.connected for m in msgs],
        "serial_number": [m.serial_number for m in msgs],
        "software_version": [m.software_version for m in msgs],
    }


def _electrode_layout(times: Times, payloads: Payloads, offsets: Offsets, path: str | None) -> dict[str, list]:
    msgs = _parsed("electrode_layout", payloads, offsets, path)
    return {"time": list(times), "timestamp": [_stamp_of(m) for m in msgs], "layout": [m.layout for m in msgs]}


_PARSED_BUILDERS: dict[str, Callable[[Times, Payloads, Offsets, str | None], dict[str, list]]] = {
    "electrode_state": _electrode_state,
    "image_transform": _image_transform,
    "device_info": _device_info,
    "electrode_layout": _electrode_layout,
}


def _from_columns(cols: dict[str, list], schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for field in schema:
        values = cols[field.name]
        if pa.types.is_timestamp(field.type):
            arrays.append(_nullable_ns(values))
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def build(
    kind: str, times: Times, payloads: Payloads, offsets: Offsets | None = None, path: str | None = None
) -> pa.RecordBatch:
    """The rows of a batch of events of one `kind` (not image: see `ImageIndex`), with their log-clock times (ns).

    A payload that is not a valid event raises `LogFormatError` naming `path` and its offset.
    """
    schema = table_schema(kind)
    offsets = offsets if offsets is not None else [None] * len(payloads)
    if kind in _WIRE_BUILDERS:
        if not payloads:
            return pa.RecordBatch.from_pylist([], schema=schema)
        return _WIRE_BUILDERS[kind](_Wire(kind, payloads, offsets, path), times, schema)
    if kind in _PARSED_BUILDERS:
        return _from_columns(_PARSED_BUILDERS[kind](times, payloads, offsets, path), schema)
    raise ValueError(f"table {kind} is not built from events of its own kind")


class ImageIndex:
    """The `image` table: one row per frame (size, and the width/height of the image_transform before it).

    Fed one event at a time: frames are large, so none is kept.
    """

    kinds = ("image", "image_transform")

    def __init__(self, path: str | None = None) -> None:
        self._path = path
        self._size: tuple[int | None, int | None] = (None, None)
        self._cols: dict[str, list] = {n: [] for n in ("time", "timestamp", "bytes", "width", "height")}

    def add(self, t: int | None, payload: bytes, offset: int | None) -> None:
        """Feed an image or image_transform event (in log order)."""
        if payload[:1] == _IMAGE_TRANSFORM_TAG:
            m = parse_event(payload, offset=offset, path=self._path).image_transform
            self._size = (m.image_width or None, m.image_height or None)
            return
        data = image_data(payload)
        size = (
            len(data)
            if data is not None
            else len(parse_event(payload, offset=offset, path=self._path).image.image_data)
        )
        cols = self._cols
        cols["time"].append(t)
        cols["timestamp"].append(timestamp_ns(payload))
        cols["bytes"].append(size)
        cols["width"].append(self._size[0])
        cols["height"].append(self._size[1])

    @property
    def rows(self) -> int:
        return len(self._cols["time"])

    def take(self) -> pa.RecordBatch:
        """The rows fed since the last `take()`."""
        batch = _from_columns(self._cols, table_schema("image"))
        self._cols = {n: [] for n in self._cols}
        return batch


_IMAGE_TRANSFORM_TAG = bytes([KINDS.index("image_transform") + 1 << 3 | 2])


class Activations:
    """The `activations` table: the intervals during which each electrode was driven, from electrode_state.

    An activation starts at the electrode_state that puts an electrode into a
    drive group and ends at the first one that takes it out of that group (or
    moves it to another). Feed every electrode_state from the log's start (the
    state before a window matters); rows overlapping [lo, hi) come from `finish()`,
    by start time, with a null end for those still driven at the end of what was fed.
    """

    def __init__(self, lo: int | None = None, hi: int | None = None) -> None:
        self._lo, self._hi = lo, hi
        self._open: dict[int, tuple[int | None, int]] = {}  # electrode -> (start, drive group)
        self._rows: list[tuple[int, int | None, int | None, int]] = []

    def add(self, times: Times, payloads: Payloads, offsets: Offsets, path: str | None) -> None:
        """Feed a batch of electrode_state events (in log order)."""
        for t, msg in zip(times, _parsed("electrode_state", payloads, offsets, path), strict=True):
            driven: dict[int, int] = {}
            groups = [g.electrodes for g in msg.drive_groups] or [msg.electrodes]
            for g, pins in enumerate(groups):
                for e, on in enumerate(pins):
                    if on and e not in driven:
                        driven[e] = g
            for e, (start, g) in list(self._open.items()):
                if driven.get(e) != g:
                    self._close(e, start, t, g)
                    del self._open[e]
            for e, g in driven.items():
                if e not in self._open:
                    self._open[e] = (t, g)

    def _close(self, electrode: int, start: int | None, end: int | None, group: int) -> None:
        lo, hi = self._lo, self._hi
        if start is not None and hi is not None and start >= hi:
            return
        if end is not None and lo is not None and end <= lo:
            return
        self._rows.append((electrode, start, end, group))

    def finish(self) -> pa.RecordBatch:
        """Every activation overlapping the window, ordered by start time and electrode."""
        for e, (start, g) in self._open.items():
            self._close(e, start, None, g)
        self._open = {}
        rows = sorted(self._rows, key=lambda r: (r[1] is not None, r[1] or 0, r[0]))
        cols: dict[str, list] = {
            "electrode": [r[0] for r in rows],
            "start": [r[1] for r in rows],
            "end": [r[2] for r in rows],
            "drive_group": [r[3] for r in rows],
        }
        return _from_columns(cols, table_schema("activations"))


def markers_batch(markers: Sequence[Marker], lo: int | None = None, hi: int | None = None) -> pa.RecordBatch:
    """The `markers` table: the markers with time in [lo, hi), in time order."""
    chosen = [m for m in markers if (lo is None or m.time_ns >= lo) and (hi is None or m.time_ns < hi)]
    cols: dict[str, list] = {
        "time": [m.time_ns for m in chosen],
        "text": [m.text for m in chosen],
        "fields": [json.dumps(m.fields, sort_keys=True, default=str) for m in chosen],
    }
    return _from_columns(cols, table_schema("markers"))


__all__ = ["Activations", "ImageIndex", "build", "markers_batch"]
