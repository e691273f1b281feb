"""The tables a log turns into: their names, columns, types and units (pure).

Long (tidy) form: one row per measurement. `time` is the log's clock (receive
time in a container, else the embedded timestamp carried forward), `timestamp`
the event's own embedded timestamp (null where it has none); both are UTC
timestamps with nanoseconds.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]

from ..events import KINDS

TIME = pa.timestamp("ns", tz="UTC")

#: Tables derived from the events rather than one per kind.
DERIVED = ("activations", "markers")
#: Every table `record_batches` / `Log.table` can build: one per event kind, and the derived ones.
TABLES: tuple[str, ...] = KINDS + DERIVED


def _f(name: str, type_: pa.DataType, doc: str, unit: str | None = None) -> pa.Field:
    meta = {"description": doc}
    if unit:
        meta["unit"] = unit
    return pa.field(name, type_, metadata=meta)


_TIME = _f("time", TIME, "the log's clock: receive time in a container, else the embedded timestamp carried forward")
_STAMP = _f("timestamp", TIME, "the event's embedded timestamp; null where it has none")

_COLUMNS: dict[str, list[pa.Field]] = {
    "electrode_layout": [_TIME, _STAMP, _f("layout", pa.string(), "the layout description as sent")],
    "electrode_state": [
        _TIME,
        _STAMP,
        _f("group_type", pa.string(), "drive or scan"),
        _f("group", pa.int16(), "the group's position among the event's drive or scan groups"),
        _f("setting", pa.uint32(), "the group's setting (a drive group's duty cycle)"),
        _f("electrodes", pa.list_(pa.int16()), "numbers of the group's active electrodes"),
    ],
    "image": [
        _TIME,
        _STAMP,
        _f("bytes", pa.int64(), "size of the JPEG", "B"),
        _f("width", pa.int32(), "frame width, from the image_transform before it", "px"),
        _f("height", pa.int32(), "frame height, from the image_transform before it", "px"),
    ],
    "image_transform": [
        _TIME,
        _STAMP,
        _f("width", pa.int32(), "frame width", "px"),
        _f("height", pa.int32(), "frame height", "px"),
        _f("transform", pa.list_(pa.float32()), "3x3 homography, row-major (may be empty)"),
        _f("qr_codes", pa.int16(), "QR codes located in the frame"),
    ],
    "settings": [_TIME, _STAMP, _f("frequency", pa.float32(), "electrode drive frequency", "Hz")],
    "scan_capacitance": [
        _TIME,
        _STAMP,
        _f("electrode", pa.int16(), "electrode number (the measurement's position, 0-127)"),
        _f("capacitance", pa.float32(), "calibrated capacitance", "pF"),
        _f("raw", pa.float32(), "raw reading", "ADC counts"),
        _f("drop_present", pa.bool_(), "whether the device sees a drop on the electrode"),
    ],
    "active_capacitance": [
        _TIME,
        _STAMP,
        _f("baseline", pa.float32(), "baseline reading", "ADC counts"),
        _f("measurement", pa.float32(), "raw reading", "ADC counts"),
        _f("calibrated", pa.float32(), "calibrated capacitance of the active electrodes", "pF"),
    ],
    "hv_regulator": [
        _TIME,
        _STAMP,
        _f("voltage", pa.float32(), "high-voltage supply output", "V"),
        _f("v_target_out", pa.float32(), "regulator target output"),
    ],
    "temperature_control": [
        _TIME,
        _STAMP,
        _f("channel", pa.int16(), "temperature channel"),
        _f("temperature", pa.float32(), "temperature; null where only a duty cycle was sent", "degC"),
        _f("duty_cycle", pa.float32(), "heater duty cycle; null where only a temperature was sent"),
    ],
    "device_info": [
        _TIME,
        _f("connected", pa.bool_(), "whether the gateway is connected to the device"),
        _f("serial_number", pa.string(), "the device's serial number"),
        _f("software_version", pa.string(), "the device's firmware version"),
    ],
    "group_capacitance": [
        _TIME,
        _STAMP,
        _f("group", pa.int16(), "scan group"),
        _f("calibrated", pa.float32(), "calibrated capacitance; null where only raw was sent", "pF"),
        _f("raw", pa.float32(), "raw reading; null where only calibrated was sent", "ADC counts"),
    ],
    "duty_cycle_updated": [
        _TIME,
        _STAMP,
        _f("channel", pa.int16(), "drive group"),
        _f("duty_cycle", pa.uint32(), "duty cycle"),
    ],
    "activations": [
        _f("electrode", pa.int16(), "electrode number"),
        _f("start", TIME, "when the electrode was first driven (the electrode_state that switched it on)"),
        _f("end", TIME, "when it stopped being driven; null if it still was at the end of what was read"),
        _f("drive_group", pa.int16(), "the drive group that drove it"),
    ],
    "markers": [
        _f("time", TIME, "the marker's time on the log's clock"),
        _f("text", pa.string(), "the marker's text"),
        _f("fields", pa.string(), "the marker's fields, as a JSON object"),
    ],
}


def check_table(kind: str) -> str:
    """`kind` if it names a table, else ValueError listing the tables."""
    if kind not in _COLUMNS:
        raise ValueError(f"no table named {kind!r}; tables: {', '.join(TABLES)}")
    return kind


def table_schema(kind: str, metadata: dict[str, Any] | None = None) -> pa.Schema:
    """The Arrow schema of table `kind` (ValueError for an unknown one), with `metadata` (JSON-encoded)."""
    schema = pa.schema(_COLUMNS[check_table(kind)])
    return schema.with_metadata(encode_metadata(metadata)) if metadata else schema


def project(schema: pa.Schema, columns: list[str] | None, kind: str) -> pa.Schema:
    """The schema of the chosen columns, in the order asked (ValueError naming an unknown column)."""
    if columns is None:
        return schema
    unknown = [c for c in columns if schema.get_field_index(c) < 0]
    if unknown:
        raise ValueError(f"table {kind} has no column {', '.join(unknown)}; columns: {', '.join(schema.names)}")
    return pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)


def encode_metadata(metadata: dict[str, Any]) -> dict[bytes, bytes]:
    """Schema metadata: each value JSON-encoded, under `pdlogkit.<key>`."""
    return {f"pdlogkit.{k}".encode(): json.dumps(v, default=str).encode() for k, v in metadata.items()}


def decode_metadata(schema: pa.Schema) -> dict[str, Any]:
    """What `encode_metadata` put into a schema (for readers of an exported file)."""
    out: dict[str, Any] = {}
    for k, v in (schema.metadata or {}).items():
        key = k.decode()
        if key.startswith("pdlogkit."):
            out[key.removeprefix("pdlogkit.")] = json.loads(v)
    return out


__all__ = ["DERIVED", "TABLES", "TIME", "check_table", "decode_metadata", "encode_metadata", "project", "table_schema"]
