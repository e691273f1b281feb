"""One reading API over both formats: windows, kinds and summaries agree with a brute-force scan."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from pdlogkit import open_log, open_writer
from pdlogkit.files.classic import ClassicReader, ClassicWriter
from pdlogkit.files.indexed import IndexedWriter
from pdlogkit.files.sidecar import load_sidecar, sidecar_path, write_sidecar
from pdlogkit.log import ClassicLog, IndexedLog, format_for
from pdlogkit.logtools import convert
from pdlogkit.timeline import log_clock


@pytest.fixture(scope="module")
def both(synth_log: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The shared 20 s classic log, its container, and an indexed (sidecar) copy of the classic one."""
    folder = tmp_path_factory.mktemp("api")
    container = folder / "run.pdlz"
    convert(synth_log, container)
    indexed_classic = folder / "indexed.bin"
    shutil.copy2(synth_log, indexed_classic)
    write_sidecar(indexed_classic)
    return synth_log, container, indexed_classic


def brute_force(path: Path, kinds: set[str] | None, lo_s: float | None, hi_s: float | None) -> list[bytes]:
    """Every event of a classic log whose carried-forward timestamp is in the window, by a full scan.

    Window bounds count from the earliest timestamp; events before the first timestamp take that first one.
    """
    events = list(ClassicReader(path))
    first = next(e.time_ns for e in events if e.time_ns is not None)
    origin = min(e.time_ns for e in events if e.time_ns is not None)
    lo = None if lo_s is None else origin + round(lo_s * 1e9)
    hi = None if hi_s is None else origin + round(hi_s * 1e9)
    return [
        e.payload
        for t, e in log_clock(events, first)
        if (kinds is None or e.kind in kinds) and (lo is None or t >= lo) and (hi is None or t < hi)
    ]


WINDOWS = [
    (None, None, None),
    ({"active_capacitance"}, None, None),
    (None, 3.0, 4.0),
    ({"image", "electrode_state"}, 7.25, 9.5),
    ({"scan_capacitance"}, None, 2.0),
    ({"device_info", "electrode_state"}, 0.0, 0.5),
    (None, 19.5, None),
    (None, 30.0, 40.0),
]


@pytest.mark.parametrize(("kinds", "start", "end"), WINDOWS)
def test_windows_and_kind_filters_match_a_brute_force_scan_in_every_format(both, kinds, start, end):
    classic = both[0]
    want = brute_force(classic, kinds, start, end)
    for path in both:
        with open_log(path) as log:
            assert [e.payload for e in log.events(kinds=kinds, start=start, end=end)] == want, path.name


def test_a_log_starts_at_its_earliest_time_not_its_first(tmp_path):
    """Timestamps of different kinds are only roughly ordered: the first event need not be the earliest."""
    from pdlogkit import schema as pb
    from pdlogkit.logtools import slice_log

    t0 = 1_767_225_600 * 10**9
    classic = tmp_path / "jitter.bin"
    with ClassicWriter(classic) as w:
        w.write(pb.PurpleDropEvent(electrode_state=pb.ElectrodeState()).SerializeToString())  # untimed
        for offset_s in (0.5, 0.0, 0.1, 0.3):
            stamp = pb.Timestamp(seconds=t0 // 10**9, nanos=round(offset_s * 1e9))
            event = pb.PurpleDropEvent(active_capacitance=pb.ActiveCapacitance(timestamp=stamp))
            w.write(event.SerializeToString())
    container = tmp_path / "jitter.pdlz"
    convert(classic, container)
    sidecar_copy = tmp_path / "jitter-indexed.bin"
    shutil.copy2(classic, sidecar_copy)
    write_sidecar(sidecar_copy)
    for path in (classic, container, sidecar_copy):
        with open_log(path) as log:
            summary = log.summary()
            assert (summary.start_ns, summary.end_ns, summary.duration) == (t0, t0 + 5 * 10**8, 0.5), path.name
            assert log.start_ns == t0
            for start, end in ((0, 10), (0.0, 0.2), (0.1, 0.5), (None, 0.4)):
                got = [e.payload for e in log.events(start=start, end=end)]
                assert got == brute_force(classic, None, start, end), (path.name, start, end)
        sliced = tmp_path / f"slice-{path.name}"
        assert slice_log(path, sliced, start=0, end=10).events == 5


def test_a_container_whose_statistics_start_at_its_first_event_still_starts_at_its_earliest(tmp_path):
    """Files written before the fix stored the first event's time as the start: the chunk headers correct it."""
    from pdlogkit.formats import container as fmt

    t0 = 1_767_225_600 * 10**9
    path = tmp_path / "old.pdlz"
    with open_writer(path) as w:
        for offset_ms in (500, 0, 100, 300):
            w.write(b"\x3a\x00", t0 + offset_ms * 10**6)
    data = path.read_bytes()
    index_offset, size = fmt.decode_trailer(data[-fmt.TRAILER_SIZE :], len(data))
    index = fmt.decode_index(data[index_offset : index_offset + size], index_offset)
    index.stats["start_ns"] = t0 + 500 * 10**6  # what the old writer stored
    block = fmt.encode_index(index)
    path.write_bytes(data[:index_offset] + block + fmt.encode_trailer(index_offset, len(block)))
    with open_log(path) as log:
        assert log.has_index and log.start_ns == log.summary().start_ns == t0
        assert log.summary().duration == 0.5
        assert len(list(log.events(start=0, end=0.2))) == 2


def test_a_window_can_be_given_as_absolute_datetimes(both):
    _, container, _ = both
    with open_log(container) as log:
        origin = log.summary().start
        start, end = origin + dt.timedelta(seconds=5), origin + dt.timedelta(seconds=6)
        by_datetime = [e.payload for e in log.events(start=start, end=end)]
        assert by_datetime == [e.payload for e in log.events(start=5.0, end=6.0)]
        assert by_datetime


def test_open_log_tells_the_formats_apart_by_content_not_name(both, tmp_path):
    classic, container, _ = both
    disguised = tmp_path / "container.bin"
    shutil.copy(container, disguised)
    assert isinstance(open_log(disguised), IndexedLog)
    assert isinstance(open_log(classic), ClassicLog)


def test_summaries_agree_between_the_index_the_sidecar_and_a_scan(both):
    classic, container, indexed_classic = both
    scanned = open_log(classic).summary()
    from_index = open_log(container).summary()
    from_sidecar = open_log(indexed_classic).summary()
    assert (scanned.source, from_index.source, from_sidecar.source) == ("scan", "index", "sidecar")
    for s in (from_index, from_sidecar):
        assert (s.events, s.counts, s.sizes, s.start_ns, s.end_ns, s.gaps) == (
            scanned.events,
            scanned.counts,
            scanned.sizes,
            scanned.start_ns,
            scanned.end_ns,
            scanned.gaps,
        )
    assert from_index.time_source == "timestamps"  # converted from classic: no receive times
    assert from_index.chunks > 0
    assert 19 < from_index.duration < 21
    assert from_index.rates["active_capacitance"] == pytest.approx(50, rel=0.05)


def test_a_summary_reports_gaps_in_the_stream(tmp_path):
    path = tmp_path / "gappy.pdlz"
    t0 = 1_767_225_600 * 10**9
    with open_writer(path, metadata={"notes": "gap test"}) as w:
        for i in range(10):
            w.write(b"\x3a\x00", t0 + i * 10**8)
        for i in range(10):
            w.write(b"\x3a\x00", t0 + 5 * 10**9 + i * 10**8)
    summary = open_log(path).summary()
    assert summary.gaps == [(pytest.approx(0.9), pytest.approx(5.0))]
    assert summary.metadata["notes"] == "gap test"


def test_summary_statistics_round_trip_and_old_imports_still_work():
    from pdlogkit.log import LogSummary, SummaryBuilder
    from pdlogkit.summary import LogSummary as Moved

    builder = SummaryBuilder()
    for kind, size, t in (
        ("image", 10, 5 * 10**9),
        ("settings", 2, 1 * 10**9),
        ("image", 3, 9 * 10**9),
        ("x", 1, None),
    ):
        builder.add(kind, size, t)
    stats = builder.to_stats()
    assert stats == {
        "events": 4,
        "counts": {"image": 2, "settings": 1, "x": 1},
        "sizes": {"image": 13, "settings": 2, "x": 1},
        "start_ns": 10**9,
        "end_ns": 9 * 10**9,
        "gaps_ns": [[5 * 10**9, 9 * 10**9]],
    }
    again = SummaryBuilder.from_stats(stats).build("p", "indexed", 0)
    assert LogSummary is Moved and again == builder.build("p", "indexed", 0)
    assert again.gaps == [(4.0, 8.0)] and again.duration == 8.0


def test_the_sidecar_goes_stale_when_the_log_changes(both, tmp_path):
    classic = tmp_path / "growing.bin"
    shutil.copy2(both[0], classic)
    write_sidecar(classic)
    assert load_sidecar(classic) is not None
    assert open_log(classic).summary().source == "sidecar"
    with open(classic, "ab") as f:  # the recorder appends one more event
        f.write(b"\x02\x00\x00\x00\x3a\x00")
    assert load_sidecar(classic) is None
    summary = open_log(classic).summary()
    assert summary.source == "scan"
    assert summary.events == open_log(both[0]).summary().events + 1
    os.remove(sidecar_path(classic))
    assert load_sidecar(classic) is None


def test_the_sidecar_notices_a_same_size_rewrite(both, tmp_path):
    classic = tmp_path / "rewritten.bin"
    shutil.copy2(both[0], classic)
    write_sidecar(classic)
    data = bytearray(classic.read_bytes())
    data[-1] ^= 0xFF
    classic.write_bytes(bytes(data))
    assert load_sidecar(classic) is None


def test_writers_pick_the_format_from_the_extension_unless_told(tmp_path):
    assert format_for("a.pdlz") == "indexed"
    assert format_for("a.bin") == "classic"
    assert format_for("a.bin", "indexed") == "indexed"
    with pytest.raises(ValueError, match="unknown log format"):
        format_for("a.bin", "zip")
    with open_writer(tmp_path / "x.pdlz", metadata={"source": "ws://127.0.0.1:7001"}) as w:
        assert isinstance(w, IndexedWriter) and w.format == "indexed"
        w.write(b"\x3a\x00", 1)
    assert open_log(tmp_path / "x.pdlz").summary().metadata["source"] == "ws://127.0.0.1:7001"


def test_the_container_keeps_receive_times_and_embedded_timestamps_apart(tmp_path):
    path = tmp_path / "recv.pdlz"
    from pdlogkit import schema as pb

    stamp = pb.Timestamp(seconds=1_767_225_600, nanos=1)
    payload = pb.PurpleDropEvent(active_capacitance=pb.ActiveCapacitance(timestamp=stamp)).SerializeToString()
    with open_writer(path) as w:
        w.write(payload, 5_000_000_000_000_000_000)
    (event,) = list(open_log(path).events())
    assert event.received_ns == 5_000_000_000_000_000_000
    assert event.time_ns == 1_767_225_600_000_000_001
    assert open_log(path).summary().time_source == "received"
