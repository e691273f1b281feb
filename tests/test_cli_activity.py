"""`pdlogkit record` with activity and markers, `pdlogkit activity` and `pdlogkit trim`, as a user runs them."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
import warnings

import pytest

from pdlogkit import Marker, open_log
from pdlogkit.files.indexed_writer import IndexedWriter
from pdlogkit.synth import Experiment, SynthGateway, SynthStream

PDLOGKIT = [sys.executable, "-m", "pdlogkit"]
NO_API = ["--rpc-url", "http://127.0.0.1:9/rpc"]
#: A burst of 3 moves every 2 to 6 s: any 9 s of it holds a whole burst and idle frames.
EXPERIMENT = Experiment(idle=4.0, moves=3, move_every=0.3, first_idle=1.0)


@pytest.fixture(scope="module")
def gateway():
    with SynthGateway(frame_size=(96, 64), experiment=EXPERIMENT) as gw:
        yield gw


@pytest.fixture(scope="module")
def experiment_log(tmp_path_factory):
    """40 s of a synthetic experiment (bursts of 3 moves) with a marker, in a container."""
    path = tmp_path_factory.mktemp("experiment") / "run.pdlz"
    stream = SynthStream(40.0, seed=5, frame_size=(96, 64), experiment=Experiment(idle=12.0, moves=3, first_idle=8))
    with IndexedWriter(path) as writer:
        for t, payload in stream:
            writer.write(payload, t)
        writer.add_marker(Marker(stream.start_ns + 24 * 1_000_000_000, "look here", {"well": "B2"}))
    return path, stream


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PDLOGKIT, *args], capture_output=True, text=True, timeout=120)


def _frames_inside(path, pre: float, post: float) -> tuple[int, int]:
    """(frames in the log, frames whose image_transform lies in a period `pdlogkit activity` finds in it)."""
    report = json.loads(_run("activity", str(path), "--pre-roll", str(pre), "--post-roll", str(post), "--json").stdout)
    log = open_log(path)
    origin = log.start_ns
    frames = inside = 0
    frame_time = None
    for t, event in log.timed_events(["image", "image_transform"]):
        if event.kind == "image_transform":
            frame_time = (t - origin) / 1e9
            continue
        frames += 1
        if any(p["start"] - 1e-9 <= frame_time <= p["end"] + 1e-9 for p in report["periods"]):
            inside += 1
    return frames, inside


def test_record_frames_activity_keeps_frames_only_around_moves_and_every_sensor_event(gateway, tmp_path):
    out = tmp_path / "run.pdlz"
    result = _run(
        "record", gateway.ws_url, str(out), "--frames", "activity", "--pre-roll", "0.5", "--post-roll", "1",
        "--duration", "10", "--json", *NO_API,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [summary] = json.loads(result.stdout)
    assert summary["frames_kept"] > 0 and summary["frames_dropped"] > 0 and summary["windows"]
    assert summary["bytes_dropped"] > 0
    frames, inside = _frames_inside(out, 0.5, 1.0)
    assert frames == inside == summary["frames_kept"]  # no frame outside a period of activity
    counts = open_log(out).summary().counts
    assert counts["active_capacitance"] > 450  # 50/s for 10 s: every sensor event kept
    assert open_log(out).metadata["frames"] == "activity"


def test_record_segments_activity_writes_a_file_per_burst(gateway, tmp_path):
    pattern = tmp_path / "burst-{n}.bin"
    result = _run(
        "record", gateway.ws_url, str(pattern), "--segments", "activity", "--pre-roll", "0.5", "--post-roll", "0.5",
        "--duration", "9", "--json", *NO_API,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summaries = json.loads(result.stdout)
    files = sorted(tmp_path.glob("burst-*.bin"))
    assert [s["path"] for s in summaries] == [str(tmp_path / f"burst-{n}.bin") for n in range(1, len(files) + 1)]
    assert len(files) >= 1
    for s in summaries:
        [window] = s["windows"]
        assert window[0] <= s["first_time"] and s["last_time"] <= window[1] + 0.01
        assert s["events"] == len(list(open_log(s["path"]))) > 0
    again = _run("record", gateway.ws_url, str(pattern), "--segments", "activity", "--duration", "1", *NO_API)
    assert again.returncode == 1 and "burst-1.bin" in again.stderr and "--force" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-segment", "5"], "--max-segment goes with --segments activity"),
        (["--post-roll", "5"], "--post-roll and --activity go with"),
        (["--segments", "activity"], "must hold {n}"),
        (["--frames", "some"], "invalid choice"),
        (["--frames", "activity", "--pre-roll", "90000"], "must be from 0 to 86400 seconds"),
        (["--pre-roll", "1e11"], "must be from 0 to 86400 seconds"),
    ],
)
def test_activity_options_in_the_wrong_places_are_usage_errors(tmp_path, args, message):
    result = _run("record", "ws://127.0.0.1:9", str(tmp_path / "x.pdlz"), *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_line_typed_on_the_terminal_adds_a_marker(gateway, tmp_path):
    out = tmp_path / "marked.pdlz"
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*PDLOGKIT, "record", gateway.ws_url, str(out), "--duration", "120", *NO_API],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(slave)
    try:
        _wait(lambda: out.exists() and out.stat().st_size > 1000)
        os.write(master, b'dispense reagent B {"step": 3, "well": "A1"}\n')
        os.write(master, b"\n")  # an empty line adds nothing
        os.write(master, b"mix {not json}\n")

        def marked() -> bool:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return len(open_log(out).markers()) == 2

        _wait(marked)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
        os.close(master)
    assert proc.returncode == 0, stderr
    assert "markers: 2" in stdout
    markers = open_log(out).markers()
    assert [(m.text, m.fields) for m in markers] == [
        ("dispense reagent B", {"step": 3, "well": "A1"}),
        ("mix {not json}", {}),
    ]


def _wait(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_roll_past_a_day_is_a_usage_error_with_the_limit_the_library_keeps(experiment_log):
    path, _ = experiment_log
    for command in (["activity", str(path)], ["trim", str(path), str(path) + ".out.pdlz"]):
        result = _run(*command, "--post-roll", "90000")
        assert result.returncode == 2 and "must be from 0 to 86400 seconds" in result.stderr, result.stderr


def test_activity_lists_the_periods_and_how_much_they_cover(experiment_log):
    path, stream = experiment_log
    result = _run("activity", str(path), "--pre-roll", "1", "--post-roll", "2", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    bursts = [((a - stream.start_ns) / 1e9, (b - stream.start_ns) / 1e9) for a, b in stream.bursts]
    moves = [p for p in report["periods"] if p["activities"] > 1]
    assert [(round(p["first"], 6), round(p["last"], 6)) for p in moves] == [
        (round(a, 6), round(b, 6)) for a, b in bursts
    ]
    assert all(p["start"] == pytest.approx(max(0, p["first"] - 1)) for p in moves)
    assert all(p["end"] == pytest.approx(p["last"] + 2) for p in report["periods"])
    assert all(p["electrodes"] for p in moves)
    marker = [p for p in report["periods"] if p["activities"] == 1]  # the marker counts as activity
    assert [p["first"] for p in marker] == [pytest.approx(24.0)]
    assert 0 < report["fraction"] < 1 and report["covered"] == pytest.approx(report["fraction"] * report["duration"])
    text = _run("activity", str(path), "--pre-roll", "1", "--post-roll", "2")
    assert f"{len(report['periods'])} period(s) of activity" in text.stdout and "electrodes" in text.stdout


def _every_tenth_second(event):
    return event.kind == "temperature_control" and event.time_ns is not None and event.time_ns // 10**9 % 10 == 0


@pytest.mark.parametrize(
    ("activity", "reads"),
    [
        (None, {"electrode_state"}),
        (["hv_regulator"], {"electrode_state", "hv_regulator"}),
        (_every_tenth_second, None),  # a predicate may look at anything
    ],
    ids=["moves", "kinds", "predicate"],
)
def test_the_windows_read_only_what_decides_them_and_match_a_read_of_everything(
    experiment_log, tmp_path, activity, reads
):
    from pdlogkit import convert
    from pdlogkit.activity import ActivityDetector, find_windows
    from pdlogkit.ops import activity_windows

    container, _ = experiment_log
    classic = tmp_path / "run.bin"  # its electrode states carry no time: they take it from the events before
    convert(container, classic)
    assert ActivityDetector(activity).kinds == reads
    for path in (container, classic):
        with open_log(path) as log:
            detector = ActivityDetector(activity)
            everything = find_windows(
                log.timed_events(), pre_roll=1, post_roll=1, activity=detector, markers=log.markers()
            )
            needed = activity_windows(log, pre_roll=1, post_roll=1, activity=activity)
        assert len(needed) > 1 and [(w.start_ns, w.end_ns, w.activities, w.electrodes) for w in needed] == [
            (w.start_ns, w.end_ns, w.activities, w.electrodes) for w in everything
        ], path.name


def test_trim_keeps_only_the_periods_and_says_what_it_cut(experiment_log, tmp_path):
    path, _ = experiment_log
    rolls = ["--pre-roll", "1", "--post-roll", "2"]
    result = _run("trim", str(path), str(tmp_path / "short.pdlz"), *rolls, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    trimmed = open_log(tmp_path / "short.pdlz")
    assert report["events"] == len(list(trimmed)) and report["events_cut"] > 0
    origin = open_log(path).start_ns
    periods = report["periods"]
    for t, event in trimmed.timed_events():
        if event.kind != "image":  # an image goes with the image_transform just before it
            assert any(p["start"] <= (t - origin) / 1e9 <= p["end"] + 1e-9 for p in periods), event
    assert [m.text for m in trimmed.markers()] == ["look here"]
    assert trimmed.metadata["trimmed_from"] == "run.pdlz"
    frames_only = _run("trim", str(path), str(tmp_path / "frames.bin"), *rolls, "--frames-only", "--json")
    kept = json.loads(frames_only.stdout)
    original = open_log(path).summary().counts
    assert open_log(tmp_path / "frames.bin").summary().counts["active_capacitance"] == original["active_capacitance"]
    assert kept["frames_cut"] == report["frames_cut"] and kept["frames_kept"] == report["frames_kept"]
    again = _run("trim", str(path), str(tmp_path / "short.pdlz"))
    assert again.returncode == 1 and "--force" in again.stderr


def test_trim_of_a_log_without_activity_writes_nothing(tmp_path):
    path = tmp_path / "still.pdlz"
    with IndexedWriter(path) as writer:
        for t, payload in SynthStream(3.0, camera=False, experiment=Experiment(first_idle=100)):
            writer.write(payload, t)
    result = _run("trim", str(path), str(tmp_path / "out.pdlz"))
    assert result.returncode == 1 and "no activity" in result.stderr
    assert not (tmp_path / "out.pdlz").exists()
    listed = _run("activity", str(path))
    assert "0 period(s) of activity" in listed.stdout
