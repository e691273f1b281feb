"""`pdlogkit record`, `pdrecord` and `pdlogkit demo` as a user runs them: real processes, real signals."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pdlogkit import open_log
from pdlogkit.files.classic import ClassicReader
from pdlogkit.synth import SynthGateway

PDLOGKIT = [sys.executable, "-m", "pdlogkit"]
PDRECORD = [
    sys.executable,
    "-c",
    "import sys; from pdlogkit.cli.record import pdrecord_main; sys.exit(pdrecord_main())",
]


@pytest.fixture(scope="module")
def gateway():
    with SynthGateway(frame_size=(320, 240)) as gw:
        yield gw


def _wait_for_file(path, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.stat().st_size > 1000):
        assert time.monotonic() < deadline, f"{path} never filled"
        time.sleep(0.05)


def test_record_for_a_duration_writes_a_log_and_a_summary(gateway, tmp_path):
    out = tmp_path / "run.bin"
    result = subprocess.run(
        [*PDLOGKIT, "record", gateway.ws_url, str(out), "--duration", "1"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "run.bin:" in result.stdout and "events" in result.stdout
    assert result.stderr == ""  # no status line when not on a terminal
    assert open_log(out).summary().events > 20


def test_record_json_summary_and_filters(gateway, tmp_path):
    out = tmp_path / "sensors.bin"
    result = subprocess.run(
        [
            *PDLOGKIT,
            "record",
            gateway.ws_url,
            str(out),
            "--duration",
            "1",
            "--exclude",
            "image",
            "image_transform",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    [summary] = json.loads(result.stdout)
    assert summary["path"] == str(out) and summary["events"] > 0
    assert "image" not in summary["counts"]
    assert {e.kind for e in open_log(out)}.isdisjoint({"image", "image_transform"})


def test_sigterm_stops_cleanly_and_leaves_no_truncated_record(gateway, tmp_path):
    out = tmp_path / "run.bin"
    proc = subprocess.Popen([*PDLOGKIT, "record", gateway.ws_url, str(out)], stdout=subprocess.PIPE, text=True)
    _wait_for_file(out)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    reader = ClassicReader(out)
    assert len(list(reader)) > 0 and reader.truncation is None
    assert "run.bin:" in stdout


def test_split_duration_cuts_numbered_files_without_losing_events(gateway, tmp_path):
    out = tmp_path / "run.bin"
    result = subprocess.run(
        [
            *PDLOGKIT,
            "record",
            gateway.ws_url,
            str(out),
            "--duration",
            "1.7",
            "--split-duration",
            "0.5",
            "--include",
            "active_capacitance",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    files = sorted(tmp_path.glob("run-*.bin"))
    assert [f.name for f in files][:3] == ["run-0001.bin", "run-0002.bin", "run-0003.bin"]
    assert [s["path"] for s in json.loads(result.stdout)] == [str(f) for f in files]
    times = [e.time_ns for f in files for e in open_log(f)]
    assert max(b - a for a, b in itertools.pairwise(times)) < 0.1e9  # no hole at any cut


def test_an_unreachable_gateway_exits_4_with_a_clear_message(tmp_path):
    result = subprocess.run(
        [
            *PDLOGKIT,
            "record",
            "ws://127.0.0.1:9",
            str(tmp_path / "x.bin"),
            "--duration",
            "1",
            "--connect-timeout",
            "0.5",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 4
    assert "cannot reach the gateway at ws://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--duration", "-1"],
        ["--include", "imgae"],
        ["--split-size", "0"],
    ],
)
def test_bad_arguments_exit_2(tmp_path, args):
    result = subprocess.run(
        [*PDLOGKIT, "record", "ws://127.0.0.1:9", str(tmp_path / "x.bin"), *args], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_a_disk_full_during_recording_exits_1_with_a_clear_message(gateway):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    result = subprocess.run(
        [*PDLOGKIT, "record", gateway.ws_url, "/dev/full", "--duration", "3"], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "No space left on device" in result.stderr and "Traceback" not in result.stderr


def test_a_bad_uri_exits_2(tmp_path):
    result = subprocess.run(
        [*PDLOGKIT, "record", "http://nope", str(tmp_path / "x.bin")], capture_output=True, text=True
    )
    assert result.returncode == 2 and "not a websocket URI" in result.stderr


def test_pdrecord_keeps_its_original_interface_and_prints_kinds_with_v(gateway, tmp_path):
    out = tmp_path / "old.bin"
    proc = subprocess.Popen(
        [*PDRECORD, "--host", gateway.ws_url, "-v", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for_file(out)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    printed = stdout.split()
    recorded = [e.kind for e in open_log(out)]
    assert printed == recorded
    assert "old.bin:" in stderr


def test_pre_roll_waits_for_sigusr1_and_writes_the_seconds_before(gateway, tmp_path):
    out = tmp_path / "dashcam.bin"
    proc = subprocess.Popen(
        [*PDLOGKIT, "record", gateway.ws_url, str(out), "--pre-roll", "1", "--duration", "0.5", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.0)
    assert not out.exists()  # nothing is written before the trigger
    proc.send_signal(signal.SIGUSR1)
    stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    [summary] = json.loads(stdout)
    assert summary["pre_roll_events"] > 30
    assert summary["first_time"] < summary["started"] - 0.7


def test_demo_runs_end_to_end_and_again_over_its_own_files(tmp_path):
    for _ in range(2):  # a second run replaces the first run's files
        result = subprocess.run(
            [*PDLOGKIT, "demo", "--out", str(tmp_path), "--seconds", "0.5", "--experiment-seconds", "6"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
    assert "What was recorded" in result.stdout
    for i in (1, 2, 3):
        assert open_log(tmp_path / f"segment-{i}.bin").summary().events > 0
        assert (tmp_path / f"segment-{i}.mp4").stat().st_size > 0
    assert "Videos of the camera frames" in result.stdout
    everything, active = open_log(tmp_path / "everything.pdlz"), open_log(tmp_path / "activity.pdlz")
    assert active.size < everything.size
    assert active.summary().counts["image"] < everything.summary().counts["image"]
    assert [m.text for m in active.markers()] == ["dispense reagent A"]  # the one burst of a 6 s experiment
    assert "smaller, every sensor event kept" in result.stdout and "dispense reagent A" in result.stdout
    assert open_log(tmp_path / "burst-1.pdlz").summary().events > 0
    assert (tmp_path / "active-1.mp4").stat().st_size > 0
