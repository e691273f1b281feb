"""The timeline figure: a panel per kind the log holds on one time axis, markers at their times, gaps shaded."""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.image import AxesImage

from pdlogkit import Marker, PlotError, WindowError, find_activity, open_log, open_writer
from pdlogkit.cli import main
from pdlogkit.cli.common import PROBLEMS, USAGE
from pdlogkit.files.classic import ClassicWriter
from pdlogkit.plot import PANEL_NAMES, save_timeline, timeline
from pdlogkit.schema import HvRegulator, PurpleDropEvent, Timestamp
from pdlogkit.synth import Experiment, write_log

T0 = 1_767_225_600_000_000_000  # 2026-01-01 00:00:00 UTC in ns
S = 1_000_000_000


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of synthetic stream, camera included, in an indexed container."""
    path = tmp_path_factory.mktemp("plot") / "run.pdlz"
    write_log(path, 12.0, seed=5, frame_size=(320, 240))
    return path


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of sensors (a classic log) with two markers."""
    folder = tmp_path_factory.mktemp("marked")
    write_log(folder / "plain.bin", 8.0, seed=6, camera=False)
    path = folder / "marked.bin"
    markers = [Marker(T0 + 2 * S, "drop dispensed"), Marker(T0 + 5_500_000_000, "mixing")]
    with open_log(folder / "plain.bin") as log, ClassicWriter(path, markers=markers) as w:
        for event in log:
            w.write(event.payload)
    return path


def panels(figure) -> dict[str, object]:
    return {ax.get_label(): ax for ax in figure.axes if ax.get_label() in PANEL_NAMES}


def test_every_kind_gets_a_panel_on_one_shared_time_axis(container: Path) -> None:
    figure = timeline(container)
    found = panels(figure)
    assert list(found) == list(PANEL_NAMES)
    first = figure.axes[0]
    assert all(first.get_shared_x_axes().joined(first, ax) for ax in found.values())
    with open_log(container) as log:
        summary = log.summary()
    assert first.get_xlim() == pytest.approx((0.0, summary.duration))
    assert first.get_xlabel() == "" and list(found.values())[-1].get_xlabel() == "seconds since the start"
    assert figure.get_suptitle().startswith("run.pdlz: started 2026-01-01 00:00:00 UTC")


def test_the_electrode_raster_shows_every_drive_interval(container: Path) -> None:
    # Brute force: the drop moves one electrode per electrode_state; each is driven until the next.
    with open_log(container) as log:
        origin = log.start_ns
        moves = [
            ((t - origin) / 1e9, [i for i, on in enumerate(e.message.electrode_state.drive_groups[0].electrodes) if on])
            for t, e in log.timed_events(kinds=["electrode_state"])
        ]
        end = log.summary().duration
    expected = sorted((pins[0], t, moves[i + 1][0] if i + 1 < len(moves) else end) for i, (t, pins) in enumerate(moves))
    ax = panels(timeline(container))["electrodes"]
    [bars] = [c for c in ax.collections if isinstance(c, PolyCollection)]
    drawn = sorted(
        (round(float(p.vertices[:, 1].mean())), float(p.vertices[:, 0].min()), float(p.vertices[:, 0].max()))
        for p in bars.get_paths()
    )
    assert len(drawn) == len(expected) == len(moves)
    for got, want in zip(drawn, expected, strict=True):
        assert got == pytest.approx(want)


def test_scan_capacitance_is_a_heatmap_of_electrode_by_time(container: Path) -> None:
    ax = panels(timeline(container))["scan capacitance"]
    [image] = [i for i in ax.get_images() if isinstance(i, AxesImage)]
    grid = image.get_array()
    assert grid.shape[0] == 128
    with open_log(container) as log:
        scans = [e.message.scan_capacitance.measurements for e in log.events(kinds=["scan_capacitance"])]
    assert grid.shape[1] == len(scans)  # fewer scans than pixel columns: a column per scan
    # Each scan's drop shows where its electrode is, and nowhere else.
    for column, measurements in zip(np.ma.getdata(grid).T, scans, strict=True):
        drop = max(range(128), key=lambda i: measurements[i].capacitance)
        assert column[drop] == pytest.approx(measurements[drop].capacitance, rel=1e-6)
        assert np.count_nonzero(column) == 1


def test_capacitance_voltage_and_temperature_lines_hold_every_sample(container: Path) -> None:
    found = panels(timeline(container))
    with open_log(container) as log:
        active = [e.message.active_capacitance.calibrated for e in log.events(kinds=["active_capacitance"])]
        volts = [e.message.hv_regulator.voltage for e in log.events(kinds=["hv_regulator"])]
        temps = [list(e.message.temperature_control.temperatures) for e in log.events(kinds=["temperature_control"])]
    assert np.allclose(found["active capacitance"].get_lines()[0].get_ydata(), active)
    assert len(found["group capacitance"].get_lines()) == 5
    assert np.allclose(found["high voltage"].get_lines()[0].get_ydata(), volts)
    lines = [line for line in found["temperature"].get_lines() if line.get_label().startswith("T")]
    assert np.allclose(np.array([line.get_ydata() for line in lines]).T, temps)
    target = next(ax for ax in timeline(container).axes if ax.get_label() == "high voltage target")
    assert target.get_lines()[0].get_linestyle() == "--"


def test_markers_are_labelled_lines_at_their_time_on_every_panel(marked: Path) -> None:
    figure = timeline(marked)
    with open_log(marked) as log:
        expected = [(m.time_ns - log.start_ns) / 1e9 for m in log.markers()]
    assert expected == pytest.approx([2.0, 5.5], abs=1e-3)
    for ax in panels(figure).values():
        lines = sorted(float(line.get_xdata()[0]) for line in ax.get_lines() if line.get_gid() == "marker")
        assert lines == pytest.approx(expected, abs=1e-9)
    labels = [t.get_text() for t in figure.axes[0].texts if t.get_gid() == "marker label"]
    assert labels == ["drop dispensed", "mixing"]


def test_a_log_with_a_single_kind_gets_a_single_panel(tmp_path: Path) -> None:
    log = tmp_path / "hv.pdlz"
    with open_writer(log) as w:
        for i in range(10):
            t = T0 + i * S
            event = HvRegulator(voltage=100.0 + i, v_target_out=2.0, timestamp=Timestamp(seconds=t // S))
            w.write(PurpleDropEvent(hv_regulator=event).SerializeToString(), t)
    figure = timeline(log)
    assert list(panels(figure)) == ["high voltage"]
    assert list(panels(figure)["high voltage"].get_lines()[0].get_ydata()) == [100.0 + i for i in range(10)]


def test_recording_gaps_are_shaded(tmp_path: Path, container: Path) -> None:
    # The same stream with 5 s missing in the middle (a recorder that lost its connection).
    log = tmp_path / "gap.pdlz"
    with open_log(container) as source, open_writer(log) as w:
        for t, event in source.timed_events(kinds=["scan_capacitance", "hv_regulator"]):
            if not T0 + 4 * S <= t < T0 + 9 * S:
                w.write(event.payload, t)
    with open_log(log) as opened:
        [(a, b)] = opened.summary().gaps
    figure = timeline(log)
    for ax in panels(figure).values():
        [gap] = [p for p in ax.patches if p.get_gid() == "gap"]
        assert (gap.get_x(), gap.get_x() + gap.get_width()) == pytest.approx((a, b))
    assert 3.5 < a < 4.0 and 8.9 < b < 9.5  # scans come 4 times a second


def test_a_window_shows_the_electrode_driven_when_it_starts(container: Path) -> None:
    figure = timeline(container, start=2.0, end=6.0)
    ax = panels(figure)["electrodes"]
    assert ax.get_xlim() == pytest.approx((2.0, 6.0))
    [bars] = [c for c in ax.collections if isinstance(c, PolyCollection)]
    # The electrode driven at 2 s is drawn from when it really was switched on (the axis cuts it at 2 s).
    first = min(bars.get_paths(), key=lambda p: p.vertices[:, 0].min())
    assert first.vertices[:, 0].min() < 2.0 < first.vertices[:, 0].max()
    with open_log(container) as log:
        [(t, state)] = [(t, e) for t, e in log.timed_events(kinds=["electrode_state"]) if t < log.start_ns + 2 * S][-1:]
        driven = [i for i, on in enumerate(state.message.electrode_state.drive_groups[0].electrodes) if on]
        assert first.vertices[:, 0].min() == pytest.approx((t - log.start_ns) / 1e9)
    assert [round(float(first.vertices[:, 1].mean()))] == driven
    assert "(showing 2 s to 6 s)" in figure.get_suptitle()
    with pytest.raises(WindowError):
        timeline(container, start=100.0)


def test_the_clock_axis_shows_wall_time(container: Path) -> None:
    figure = timeline(container, clock=True, start=dt.datetime(2026, 1, 1, 0, 0, 3, tzinfo=dt.timezone.utc))
    ax = panels(figure)["temperature"]  # the bottom panel
    low, _ = ax.get_xlim()
    assert mdates.num2date(low) == dt.datetime(2026, 1, 1, 0, 0, 3, tzinfo=dt.timezone.utc)
    assert ax.get_xlabel() == "time (UTC)"
    figure.savefig(io.BytesIO(), format="png")  # lays the ticks out
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all(len(label) == 2 and label.isdigit() for label in labels[1:])  # seconds of the minute


def test_the_figure_never_reads_camera_frames(container: Path) -> None:
    class Counting(io.FileIO):
        read_bytes = 0

        def read(self, size: int = -1) -> bytes:
            data = super().read(size)
            Counting.read_bytes += len(data)
            return data

    with Counting(container) as f:
        figure = timeline(open_log(f))
    assert len(panels(figure)) == 6
    assert Counting.read_bytes < container.stat().st_size * 0.15  # the frames are most of the file


def test_the_png_has_the_size_asked_for(tmp_path: Path, container: Path) -> None:
    out = tmp_path / "run.png"
    summary = save_timeline(container, out, width=8, height=6, dpi=50)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (400, 300) == (summary.width, summary.height)
    assert summary.panels == list(PANEL_NAMES) and summary.size == len(data)
    with pytest.raises(OSError, match="exists"):
        save_timeline(container, out)
    save_timeline(container, tmp_path / "run.svg")
    assert (tmp_path / "run.svg").read_text().lstrip().startswith("<?xml")


def test_nothing_to_plot_is_a_clear_error(tmp_path: Path, container: Path) -> None:
    frames = tmp_path / "frames.pdlz"
    with open_log(container) as source, open_writer(frames) as w:
        for t, event in source.timed_events(kinds=["image"]):
            w.write(event.payload, t)
    with pytest.raises(PlotError, match="nothing to plot"):
        timeline(frames)
    with pytest.raises(ValueError, match="no panel for image"):
        timeline(container, kinds=["image"])


def test_plot_command(tmp_path: Path, marked: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "marked.png"
    assert main(["plot", str(marked), "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["markers"] == 2 and out.stat().st_size == report["size"]
    assert main(["plot", str(marked), "-o", str(out)]) == PROBLEMS  # exists: --force replaces it
    assert "exists" in capsys.readouterr().err
    assert main(["plot", str(marked), "-o", str(out), "--force", "--kinds", "hv_regulator", "--clock"]) == 0
    assert "panels: high voltage, 2 markers" in capsys.readouterr().out
    assert main(["plot", str(marked), "-o", str(tmp_path / "a.jpg")]) == USAGE
    assert main(["plot", str(tmp_path / "missing.bin"), "-o", str(tmp_path / "b.png")]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["marked.png"]


def test_without_matplotlib_the_message_names_the_extra(marked: Path, tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None; from pdlogkit.cli import main; "
        f"sys.exit(main(['plot', {str(marked)!r}, '-o', {str(tmp_path / 'x.png')!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == USAGE
    assert "pip install 'pdlogkit[plot]'" in done.stderr


def test_the_clock_can_be_in_another_time_zone(container: Path) -> None:
    zone = dt.timezone(dt.timedelta(hours=2))
    figure = timeline(container, clock=True, timezone=zone)
    assert "started 2026-01-01 02:00:00 UTC+02:00" in figure.get_suptitle()
    assert panels(figure)["temperature"].get_xlabel() == "time (UTC+02:00)"


def test_periods_of_activity_are_shaded_as_pdlogkit_activity_finds_them(tmp_path: Path) -> None:
    log = tmp_path / "experiment.pdlz"
    bursts = Experiment(idle=12, moves=5, move_every=0.5, first_idle=5)
    write_log(log, 60.0, seed=3, camera=False, experiment=bursts)
    periods = [(p.start, p.end) for p in find_activity(log).periods]
    assert len(periods) == 3
    figure = timeline(log)
    for ax in panels(figure).values():
        shaded = [(p.get_x(), p.get_x() + p.get_width()) for p in ax.patches if p.get_gid() == "activity"]
        assert np.allclose(shaded, periods, rtol=0, atol=1e-9)
    # A window shows the periods overlapping it; and the shading can be left out.
    window = timeline(log, start=20, end=40)
    assert len([p for p in window.axes[0].patches if p.get_gid() == "activity"]) == 1
    bare = timeline(log, activity=False)
    assert not [p for p in bare.axes[0].patches if p.get_gid() == "activity"]
