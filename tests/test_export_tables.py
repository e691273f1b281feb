"""Tables from logs: every table checked against a brute-force protobuf parse of the same log."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

from pdlogkit import LogFormatError, Marker, open_log, open_writer  # noqa: E402
from pdlogkit import schema as pb  # noqa: E402
from pdlogkit.export import TABLES, decode_metadata, record_batches, table_schema  # noqa: E402
from pdlogkit.files.classic import ClassicWriter  # noqa: E402

START = 1_767_225_600 * 10**9


# ---------------------------------------------------------------- brute force: protobuf, one dict per row


def _stamp(message) -> int | None:
    if not message.HasField("timestamp"):
        return None
    ts = message.timestamp
    return ts.seconds * 10**9 + ts.nanos if (ts.seconds or ts.nanos) else None


def _side_by_side(t, stamp, index, a, b, names):
    rows = []
    for i in range(max(len(a), len(b))):
        rows.append(
            {
                "time": t,
                "timestamp": stamp,
                index: i,
                names[0]: a[i] if i < len(a) else None,
                names[1]: b[i] if i < len(b) else None,
            }
        )
    return rows


def brute_force(log, kind: str) -> list[dict]:
    """The rows of table `kind` by the loop a scientist writes: parse every event, a dict per measurement."""
    rows: list[dict] = []
    size = (None, None)
    for t, event in log.timed_events():
        msg = pb.PurpleDropEvent.FromString(event.payload)
        which = msg.WhichOneof("msg")
        if kind == "image" and which == "image_transform":
            size = (msg.image_transform.image_width or None, msg.image_transform.image_height or None)
        if which != kind:
            continue
        m = getattr(msg, kind)
        stamp = _stamp(m) if kind != "device_info" else None
        if kind == "scan_capacitance":
            for i, x in enumerate(m.measurements):
                rows.append(
                    {
                        "time": t,
                        "timestamp": stamp,
                        "electrode": i,
                        "capacitance": x.capacitance,
                        "raw": x.raw,
                        "drop_present": x.drop_present,
                    }
                )
        elif kind == "active_capacitance":
            rows.append(
                {
                    "time": t,
                    "timestamp": stamp,
                    "baseline": m.baseline,
                    "measurement": m.measurement,
                    "calibrated": m.calibrated,
                }
            )
        elif kind == "group_capacitance":
            rows += _side_by_side(t, stamp, "group", m.measurements, m.raw_measurements, ("calibrated", "raw"))
        elif kind == "temperature_control":
            rows += _side_by_side(t, stamp, "channel", m.temperatures, m.duty_cycles, ("temperature", "duty_cycle"))
        elif kind == "hv_regulator":
            rows.append({"time": t, "timestamp": stamp, "voltage": m.voltage, "v_target_out": m.v_target_out})
        elif kind == "duty_cycle_updated":
            for i, d in enumerate(m.duty_cycles):
                rows.append({"time": t, "timestamp": stamp, "channel": i, "duty_cycle": d})
        elif kind == "settings":
            rows.append({"time": t, "timestamp": stamp, "frequency": m.frequency})
        elif kind == "device_info":
            rows.append(
                {
                    "time": t,
                    "connected": m.connected,
                    "serial_number": m.serial_number,
                    "software_version": m.software_version,
                }
            )
        elif kind == "image":
            rows.append(
                {"time": t, "timestamp": stamp, "bytes": len(m.image_data), "width": size[0], "height": size[1]}
            )
        elif kind == "image_transform":
            rows.append(
                {
                    "time": t,
                    "timestamp": stamp,
                    "width": m.image_width,
                    "height": m.image_height,
                    "transform": list(m.transform),
                    "qr_codes": len(m.qr_codes),
                }
            )
        elif kind == "electrode_layout":
            rows.append({"time": t, "timestamp": stamp, "layout": m.layout})
        elif kind == "electrode_state":
            groups = [("drive", g, grp.setting, grp.electrodes) for g, grp in enumerate(m.drive_groups)]
            if not groups and len(m.electrodes):
                groups = [("drive", 0, None, m.electrodes)]
            groups += [("scan", g, grp.setting, grp.electrodes) for g, grp in enumerate(m.scan_groups)]
            for group_type, g, setting, pins in groups:
                rows.append(
                    {
                        "time": t,
                        "timestamp": stamp,
                        "group_type": group_type,
                        "group": g,
                        "setting": setting,
                        "electrodes": [i for i, on in enumerate(pins) if on],
                    }
                )
    return rows


def as_rows(table) -> list[dict]:
    """Table rows with timestamps as integer ns (None stays None)."""
    ints = table.cast(
        pa.schema(
            [pa.field(f.name, pa.int64()) if pa.types.is_timestamp(f.type) else f for f in table.schema],
        )
    )
    return ints.to_pylist()


EVENT_TABLES = [t for t in TABLES if t not in ("activations", "markers")]


# ---------------------------------------------------------------- a log of every wire form


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fields(data: bytes) -> list[tuple[int, int, bytes]]:
    """(number, wire type, encoded field) of each field of a message."""
    out, pos = [], 0
    while pos < len(data):
        start = pos
        tag = 0
        shift = 0
        while True:
            b = data[pos]
            pos += 1
            tag |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        wire = tag & 7
        if wire == 0:
            while data[pos] >= 0x80:
                pos += 1
            pos += 1
        elif wire == 5:
            pos += 4
        elif wire == 1:
            pos += 8
        else:
            length, shift = 0, 0
            while True:
                b = data[pos]
                pos += 1
                length |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    break
            pos += length
        out.append((tag >> 3, wire, data[start:pos]))
    return out


def _body(field: bytes) -> bytes:
    """The content of a length-delimited field."""
    pos = 0
    while field[pos] >= 0x80:
        pos += 1
    pos += 1
    length, shift = 0, 0
    while True:
        b = field[pos]
        pos += 1
        length |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return field[pos : pos + length]


def _delimited(number: int, body: bytes, *, wide: bool = False) -> bytes:
    length = _varint(len(body))
    if wide:  # the same length in a needlessly long varint: still valid
        length = bytes(b | 0x80 for b in length[:-1]) + bytes([length[-1] | 0x80, 0])
    return _varint(number << 3 | 2) + length + body


class Spec(dict):
    """Which fields of a message hold messages (number -> their Spec), and which scalars are singular."""

    def __init__(self, children: dict | None = None, singular: tuple[int, ...] = ()) -> None:
        super().__init__(children or {})
        self.singular = singular


_TS = Spec(singular=(1, 2))
_TOP = {
    6: Spec({1: _TS, 2: Spec(singular=(1, 2, 3))}),  # scan_capacitance, its measurements
    7: Spec({1: _TS}, (3, 4, 5)),  # active_capacitance
    11: Spec({1: _TS}),  # group_capacitance
    8: Spec({3: _TS}, (1, 2)),  # hv_regulator
    9: Spec({3: _TS}),  # temperature_control
    12: Spec({1: _TS}),  # duty_cycle_updated
    5: Spec({1: _TS}, (2,)),  # settings
}


def scramble_event(payload: bytes, rnd: random.Random) -> bytes:
    """The event with its message re-encoded (its first byte stays the kind's tag, as the protocol says)."""
    ((number, _, raw),) = _fields(payload)
    return _delimited(number, scramble(_body(raw), rnd, _TOP[number]), wide=rnd.random() < 0.3)


def scramble(message_bytes: bytes, rnd: random.Random, messages: Spec) -> bytes:
    """Re-encode a message in other valid wire forms that protobuf reads the same way."""
    out: list[tuple[int, bytes]] = []
    for number, wire, raw in _fields(message_bytes):
        if wire == 2 and number in messages and rnd.random() < 0.7:
            raw = _delimited(number, scramble(_body(raw), rnd, messages[number]), wide=rnd.random() < 0.3)
        if number in messages.singular and rnd.random() < 0.3:  # an earlier occurrence: the last one wins
            earlier = rnd.randbytes(4) if wire == 5 else _varint(rnd.getrandbits(30))
            out.append((number, _varint(number << 3 | wire) + earlier))
        out.append((number, raw))
    for _ in range(rnd.randrange(3)):  # unknown fields anywhere
        junk = rnd.choice([_varint(99 << 3 | 0) + _varint(rnd.getrandbits(40)), _delimited(77, b"\x01\x02\x03")])
        out.insert(rnd.randrange(len(out) + 1), (-1 - len(out), junk))
    # Different fields in any order; occurrences of one field number keep their order.
    by_number: dict[int, list[bytes]] = {}
    for number, raw in out:
        by_number.setdefault(number, []).append(raw)
    order = [n for n, _ in out]
    rnd.shuffle(order)
    return b"".join(by_number[n].pop(0) for n in order)


def unpacked(number: int, values, fmt: str) -> bytes:
    import struct

    if fmt == "f":
        return b"".join(_varint(number << 3 | 5) + struct.pack("<f", v) for v in values)
    return b"".join(_varint(number << 3 | 0) + _varint(v) for v in values)


def odd_events(rnd: random.Random) -> list[bytes]:
    """Events in every wire form: scrambled, unpacked repeated fields, split oneofs, no or zero timestamps."""
    events = []
    for i in range(60):
        ts = pb.Timestamp(seconds=START // 10**9 + i, nanos=rnd.randrange(10**9)) if i % 7 else None
        n = rnd.choice([0, 1, 5, 128, 130])
        scan = pb.ScanCapacitance(
            timestamp=ts,
            measurements=[
                pb.CapacitanceMeasurement(
                    capacitance=rnd.choice([0.0, rnd.uniform(-5, 5)]),
                    drop_present=rnd.random() < 0.3,
                    raw=rnd.choice([0.0, rnd.uniform(0, 3000)]),
                )
                for _ in range(n)
            ],
        )
        events.append(pb.PurpleDropEvent(scan_capacitance=scan).SerializeToString())
        events.append(
            pb.PurpleDropEvent(
                active_capacitance=pb.ActiveCapacitance(
                    timestamp=ts,
                    baseline=rnd.uniform(0, 2),
                    measurement=rnd.uniform(0, 9),
                    calibrated=rnd.uniform(0, 9),
                )
            ).SerializeToString()
        )
        events.append(
            pb.PurpleDropEvent(
                group_capacitance=pb.GroupCapacitance(
                    timestamp=ts,
                    measurements=[rnd.uniform(0, 5) for _ in range(rnd.randrange(6))],
                    raw_measurements=[rnd.uniform(0, 2000) for _ in range(rnd.randrange(6))],
                )
            ).SerializeToString()
        )
        events.append(
            pb.PurpleDropEvent(
                hv_regulator=pb.HvRegulator(voltage=rnd.uniform(0, 300), v_target_out=rnd.uniform(0, 3), timestamp=ts)
            ).SerializeToString()
        )
        events.append(
            pb.PurpleDropEvent(
                temperature_control=pb.TemperatureControl(
                    temperatures=[rnd.uniform(20, 30) for _ in range(rnd.randrange(5))],
                    duty_cycles=[rnd.uniform(0, 1) for _ in range(rnd.randrange(5))],
                    timestamp=ts,
                )
            ).SerializeToString()
        )
        events.append(
            pb.PurpleDropEvent(
                duty_cycle_updated=pb.DutyCycleUpdated(
                    timestamp=ts, duty_cycles=[rnd.choice([0, 1, 200, 300, 2**31 + 5]) for _ in range(rnd.randrange(6))]
                )
            ).SerializeToString()
        )
        events.append(
            pb.PurpleDropEvent(settings=pb.Settings(timestamp=ts, frequency=rnd.uniform(0, 1e4))).SerializeToString()
        )
    odd = [scramble_event(e, rnd) for e in events]
    # Unpacked repeated scalars (what older or other serializers write) and a oneof split in two (merged).
    odd.append(
        _delimited(
            9,
            _delimited(3, pb.Timestamp(seconds=START // 10**9 + 3).SerializeToString())
            + unpacked(1, [21.5, 22.5], "f"),
        )
    )
    odd.append(_delimited(12, unpacked(2, [7, 300, 2**32 - 1], "v") + _delimited(2, bytes([1, 0x80, 2]))))
    first = _delimited(6, _delimited(2, pb.CapacitanceMeasurement(raw=5.0).SerializeToString()))
    second = _delimited(6, _delimited(2, pb.CapacitanceMeasurement(drop_present=True).SerializeToString()))
    odd.append(first + second)
    # A timestamp with negative nanos, and one that is zero (no timestamp).
    odd.append(
        pb.PurpleDropEvent(
            hv_regulator=pb.HvRegulator(voltage=1.0, timestamp=pb.Timestamp(seconds=START // 10**9, nanos=-5))
        ).SerializeToString()
    )
    odd.append(
        pb.PurpleDropEvent(hv_regulator=pb.HvRegulator(voltage=2.0, timestamp=pb.Timestamp())).SerializeToString()
    )
    return odd


@pytest.fixture(scope="module")
def odd_log(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("odd") / "odd.pdlz"
    rnd = random.Random(7)
    with open_writer(path) as w:
        for i, payload in enumerate(odd_events(rnd)):
            pb.PurpleDropEvent.FromString(payload)  # every one is a valid event
            w.write(payload, START + i * 1_000_000)
    return path


# ---------------------------------------------------------------- the tables


@pytest.mark.parametrize("kind", EVENT_TABLES)
def test_every_table_of_a_recording_matches_a_protobuf_parse(synth_log, kind):
    with open_log(synth_log) as log:
        table = log.table(kind)
        assert table.schema.equals(table_schema(kind), check_metadata=False)
        assert as_rows(table) == brute_force(log, kind)


@pytest.mark.parametrize(
    "kind",
    [
        "scan_capacitance",
        "active_capacitance",
        "group_capacitance",
        "hv_regulator",
        "temperature_control",
        "duty_cycle_updated",
        "settings",
    ],
)
def test_tables_read_every_valid_wire_form_as_protobuf_does(odd_log, kind):
    with open_log(odd_log) as log:
        expected = brute_force(log, kind)
        assert expected, "the odd log holds this kind"
        # Small batches: events of every form meet at batch edges too.
        batches = list(record_batches(log, kind, batch_rows=150))
        assert all(b.num_rows <= 150 for b in batches)
        assert as_rows(pa.Table.from_batches(batches)) == expected


def test_events_without_timestamps_get_the_log_clock_and_a_null_timestamp(odd_log):
    with open_log(odd_log) as log:
        table = log.table("hv_regulator")
    rows = as_rows(table)
    assert any(r["timestamp"] is None for r in rows)
    assert all(r["time"] is not None for r in rows)
    assert table.column("timestamp").null_count == sum(r["timestamp"] is None for r in rows)


def test_a_corrupt_payload_is_a_log_format_error_naming_its_offset(tmp_path):
    path = tmp_path / "bad.bin"
    good = pb.PurpleDropEvent(
        active_capacitance=pb.ActiveCapacitance(timestamp=pb.Timestamp(seconds=START // 10**9), calibrated=1.0)
    ).SerializeToString()
    bad = good[:1] + bytes([len(good) + 20]) + good[2:]  # its length runs past the payload
    with ClassicWriter(path) as w:
        w.write(good)
        w.write(bad)
    with open_log(path) as log, pytest.raises(LogFormatError) as caught:
        log.table("active_capacitance")
    assert caught.value.offset == 4 + len(good)
    assert str(path) in str(caught.value)


def test_an_empty_kind_gives_an_empty_table_with_its_schema(sensor_log):
    with open_log(sensor_log) as log:
        for kind in ("image", "settings", "electrode_layout", "markers"):
            table = log.table(kind)
            assert table.num_rows == 0
            assert table.schema.equals(table_schema(kind), check_metadata=False)
        df = log.to_pandas("image")
    assert list(df.columns) == ["time", "timestamp", "bytes", "width", "height"]
    assert str(df["time"].dtype) == "datetime64[ns, UTC]"


def test_a_window_and_columns_choose_rows_and_columns(sensor_log):
    with open_log(sensor_log) as log:
        whole = log.table("scan_capacitance")
        part = log.table("scan_capacitance", start=10, end=20.5, columns=["electrode", "time", "raw"])
        origin = log.start_ns
    assert part.column_names == ["electrode", "time", "raw"]
    times = pa.compute.cast(whole.column("time"), pa.int64()).to_numpy()
    inside = (times >= origin + 10 * 10**9) & (times < origin + 20_500_000_000)
    assert part.num_rows == inside.sum() > 0
    assert part.column("raw").to_pylist() == [
        v for v, keep in zip(whole.column("raw").to_pylist(), inside, strict=True) if keep
    ]
    with open_log(sensor_log) as log, pytest.raises(ValueError, match="no column"):
        log.table("scan_capacitance", columns=["capacitance", "nope"])
    with open_log(sensor_log) as log, pytest.raises(ValueError, match="no table named"):
        log.table("capacitance")


def test_the_schema_carries_the_logs_source_and_time_source(synth_log):
    with open_log(synth_log) as log:
        meta = decode_metadata(log.table("active_capacitance").schema)
    assert meta["table"] == "active_capacitance"
    assert meta["time_source"] == "timestamps"
    assert meta["log"] == synth_log.name


def test_a_container_and_its_classic_original_give_the_same_tables(synth_log, tmp_path):
    from pdlogkit import convert

    container = tmp_path / "run.pdlz"
    convert(synth_log, container)
    with open_log(synth_log) as classic, open_log(container) as indexed:
        for kind in ("scan_capacitance", "electrode_state", "image"):
            assert as_rows(classic.table(kind)) == as_rows(indexed.table(kind))


def test_scan_capacitance_in_pandas_is_a_long_table_a_scientist_can_pivot(sensor_log):
    with open_log(sensor_log) as log:
        df = log.to_pandas("scan_capacitance")
        scans = log.summary().counts["scan_capacitance"]
    assert len(df) == 128 * scans
    wide = df.pivot(index="time", columns="electrode", values="capacitance")
    assert wide.shape == (scans, 128)
    assert df.dtypes["electrode"] == "int16" and df.dtypes["drop_present"] == "bool"


# ---------------------------------------------------------------- activations and markers


def _state(*drive_groups: list[int], ts: int | None = None) -> bytes:
    groups = [pb.ElectrodeGroup(electrodes=[i in g for i in range(128)], setting=100) for g in drive_groups]
    stamp = pb.Timestamp(seconds=ts // 10**9, nanos=ts % 10**9) if ts else None
    return pb.PurpleDropEvent(
        electrode_state=pb.ElectrodeState(timestamp=stamp, drive_groups=groups)
    ).SerializeToString()


def _hv(t: int) -> bytes:
    ts = pb.Timestamp(seconds=t // 10**9, nanos=t % 10**9)
    return pb.PurpleDropEvent(hv_regulator=pb.HvRegulator(voltage=1.0, timestamp=ts)).SerializeToString()


def test_activations_are_the_intervals_each_electrode_was_driven(tmp_path):
    s = 10**9
    path = tmp_path / "moves.pdlz"
    sequence = [
        (0, _state([1], [])),  # 1 on
        (1, _state([1, 2], [])),  # 2 on
        (2, _state([2], [9])),  # 1 off, 9 on in group 1
        (3, _state([9], [])),  # 2 off, 9 moves to group 0: a new activation
        (4, _hv(START + 4 * s)),
        (5, _state([], [])),  # all off
        (6, _state([3], [])),  # 3 stays on to the end
    ]
    with open_writer(path) as w:
        for at, payload in sequence:
            w.write(payload, START + at * s)
    with open_log(path) as log:
        rows = as_rows(log.table("activations"))
        window = as_rows(log.table("activations", start=2.5, end=5.5))
    t = lambda n: START + n * s  # noqa: E731
    assert rows == [
        {"electrode": 1, "start": t(0), "end": t(2), "drive_group": 0},
        {"electrode": 2, "start": t(1), "end": t(3), "drive_group": 0},
        {"electrode": 9, "start": t(2), "end": t(3), "drive_group": 1},
        {"electrode": 9, "start": t(3), "end": t(5), "drive_group": 0},
        {"electrode": 3, "start": t(6), "end": None, "drive_group": 0},
    ]
    # A window keeps the activations overlapping it, with their real start (known from before the window).
    assert window == rows[1:4]


def test_markers_table_comes_from_the_classic_logs_sidecar(tmp_path):
    path = tmp_path / "marked.bin"
    markers = [Marker(START + 2 * 10**9, "drop arrived", {"electrode": 34}), Marker(START + 10**9, "start")]
    with ClassicWriter(path, markers=markers) as w:
        for i in range(5):
            w.write(_hv(START + i * 10**9))
    with open_log(path) as log:
        rows = as_rows(log.table("markers"))
        later = as_rows(log.table("markers", start=1.5))
    assert rows == [
        {"time": START + 10**9, "text": "start", "fields": "{}"},
        {"time": START + 2 * 10**9, "text": "drop arrived", "fields": '{"electrode": 34}'},
    ]
    assert later == rows[1:]


def test_payload_batches_are_the_timed_events_of_every_kind_of_log(synth_log, tmp_path):
    from pdlogkit import convert
    from pdlogkit.export import export_log

    container, mcap = tmp_path / "run.pdlz", tmp_path / "run.mcap"
    convert(synth_log, container)
    export_log(synth_log, mcap)
    for path in (synth_log, container, mcap):
        with open_log(path) as log:
            for kinds, start, end in (
                (None, None, None),
                (["scan_capacitance", "image"], 3, 7.5),
                (["hv_regulator"], None, 9),
            ):
                expected = [(t, e.payload, e.offset) for t, e in log.timed_events(kinds, start, end)]
                got = [x for batch in log.payload_batches(kinds, start, end) for x in zip(*batch, strict=True)]
                assert got == expected and expected


def test_a_log_without_any_time_gives_null_times(tmp_path):
    path = tmp_path / "untimed.bin"
    with ClassicWriter(path) as w:
        w.write(_state([5], []))
        w.write(pb.PurpleDropEvent(hv_regulator=pb.HvRegulator(voltage=3.0)).SerializeToString())
        w.write(_state([6], []))
    with open_log(path) as log:
        assert as_rows(log.table("hv_regulator")) == [
            {"time": None, "timestamp": None, "voltage": 3.0, "v_target_out": 0.0}
        ]
        assert as_rows(log.table("activations")) == [
            {"electrode": 5, "start": None, "end": None, "drive_group": 0},
            {"electrode": 6, "start": None, "end": None, "drive_group": 0},
        ]
