"""What the viewer asks of a replay beyond the gateway's methods, and `pdlogkit view`, as real clients see them."""

from __future__ import annotations

import base64
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from replay_client import PDLOGKIT, get, result
from viewer_data import frame_id, shown_at, write_marked_log

from pdlogkit import convert, find_activity, open_log
from pdlogkit.errors import ReplayError
from pdlogkit.replay import ReplayServer, overview
from pdlogkit.synth import DEFAULT_START_NS, Experiment
from pdlogkit.timeline import event_time_ns


@pytest.fixture(scope="module", params=["pdlz", "bin"])
def experiment_log(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 s of an experiment (bursts of moves between idle stretches), markers at 3 s and 41.5 s, small frames;
    as a container and as a classic log (its markers in the sidecar)."""
    folder = tmp_path_factory.mktemp("viewer-replay")
    path = write_marked_log(
        folder / "run.pdlz",
        60.0,
        {3.0: "start", 41.5: "reagent B"},
        seed=7,
        frame_size=(128, 96),
        fps=2.0,
        experiment=Experiment(idle=25.0, moves=4, first_idle=20.0),
    )
    if request.param == "bin":
        convert(path, folder / "run.bin")
        return folder / "run.bin"
    return path


def origin_ns(path: Path) -> int:
    with open_log(path) as log:
        return next(t for t in map(event_time_ns, log.events()) if t is not None)


def test_markers_are_answered_on_the_playback_timeline(experiment_log):
    zero = origin_ns(experiment_log)
    with ReplayServer(experiment_log, paused=True) as server:
        markers = result(server.rpc_url, "get_markers")
        again = result(server.rpc_url, "get_markers")
    assert markers == again == [
        {"time": pytest.approx((DEFAULT_START_NS + 3_000_000_000 - zero) / 1e9, abs=1e-9), "text": "start",
         "fields": {"at": 3.0}},
        {"time": pytest.approx((DEFAULT_START_NS + 41_500_000_000 - zero) / 1e9, abs=1e-9), "text": "reagent B",
         "fields": {"at": 41.5}},
    ]  # fmt: skip


def test_activity_is_what_pdlogkit_activity_finds_on_the_playback_timeline(experiment_log):
    report = find_activity(experiment_log)
    with open_log(experiment_log) as log:
        offset = (origin_ns(experiment_log) - log.start_ns) / 1e9
    # A classic log's untimed moves take the time of the event before them: the replay reads the sensors only.
    close = 1e-6 if experiment_log.suffix == ".pdlz" else 0.1
    with ReplayServer(experiment_log, paused=True) as server:
        periods = result(server.rpc_url, "get_activity")
        duration = server.status()["duration"]
    assert len(periods) == len(report.periods) >= 2
    for got, want in zip(periods, report.periods, strict=True):
        assert got["start"] == pytest.approx(max(0.0, want.start - offset), abs=close)
        assert got["end"] == pytest.approx(min(duration, want.end - offset), abs=close)
        assert got["first"] == pytest.approx(want.first - offset, abs=close)
        assert got["moves"] == want.activities and got["electrodes"] == want.electrodes


def test_an_activity_scan_ends_as_soon_as_the_replay_stops(experiment_log):
    stopping = threading.Event()
    stopping.set()
    with ReplayServer(experiment_log, paused=True) as server, pytest.raises(ReplayError, match="stopped"):
        overview.activity(server.source, stopping)


def test_the_camera_frame_is_the_one_the_playback_time_has_shown(experiment_log):
    with ReplayServer(experiment_log, paused=True) as server:
        assert result(server.rpc_url, "get_camera_frame") is None  # nothing shown yet at the start
        for t in (0.7, 30.2, 59.0, 12.25):
            result(server.rpc_url, "playback_seek", t)
            answer = result(server.rpc_url, "get_camera_frame")
            frame, _ = shown_at(experiment_log, t)
            assert frame is not None
            assert f"{answer['timestamp']['seconds']}.{answer['timestamp']['nanos']:09d}" == frame_id(frame)
            assert base64.b64decode(answer["jpeg"]) == frame.message.image.image_data
            assert answer["time"] <= t
    with ReplayServer(experiment_log, paused=True, exclude=["image"]) as server:
        result(server.rpc_url, "playback_seek", 30.0)
        assert result(server.rpc_url, "get_camera_frame") is None  # frames are not sent, so none is shown


def test_the_viewer_is_at_the_root_and_the_status_page_at_status(experiment_log):
    with ReplayServer(experiment_log, paused=True) as server:
        root = get(server.http_url + "/")
        script = get(server.http_url + "/viewer.js")
        status = get(server.http_url + "/status")
        info = result(server.rpc_url, "get_replay_info")
        methods = result(server.rpc_url, "playback_status")
        listed = get(server.http_url + "/rpc/map")
    assert root[0] == 200 and root[1].startswith("text/html") and b"pdlogkit viewer" in root[2]
    assert script[0] == 200 and script[1].startswith("text/javascript") and b"WebSocket" in script[2]
    assert status[0] == 200 and b"pdlogkit replay" in status[2]
    assert info == {"log": experiment_log.name, "ws_port": server.ws_port, "origin": origin_ns(experiment_log) / 1e9}
    assert methods["paused"]
    for name in (b"get_replay_info", b"get_markers", b"get_activity", b"get_camera_frame"):
        assert name in listed[2]


def test_a_web_ui_still_takes_the_root(experiment_log, tmp_path):
    (tmp_path / "index.html").write_text("<title>Live View</title>")
    with ReplayServer(experiment_log, paused=True, web_ui=tmp_path) as server:
        assert b"Live View" in get(server.http_url + "/")[2]
        assert get(server.http_url + "/viewer.js")[0] == 404


def _view(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """`pdlogkit view` started, and the page address it printed."""
    process = subprocess.Popen(
        [*PDLOGKIT, "view", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("viewer: "):
            return process, line.split(" ", 1)[1].strip()
    process.wait(30)
    raise AssertionError(f"pdlogkit view printed no address: {process.stderr.read() if process.stderr else ''}")


def test_pdlogkit_view_serves_the_page_on_free_ports_and_stops_on_ctrl_c(experiment_log):
    process, url = _view(str(experiment_log), "--no-browser", "--speed", "2")
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        assert b"pdlogkit viewer" in get(url)[2]
        info = result(url + "rpc", "get_replay_info")
        status = result(url + "rpc", "playback_status")
        assert info["log"] == experiment_log.name and info["ws_port"] != int(url.rsplit(":", 1)[1].strip("/"))
        assert status["waiting"] and status["speed"] == 2  # playback starts when the page connects
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err


def test_pdlogkit_view_opens_the_browser_at_the_page(experiment_log, tmp_path):
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > "{opened}"\n')
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    process, url = _view(str(experiment_log), env={**os.environ, "BROWSER": str(browser)})
    try:
        deadline = time.monotonic() + 30
        while not (opened.exists() and opened.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert opened.read_text().strip() == url
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


def test_pdlogkit_view_refuses_a_bad_speed_and_a_missing_log_in_one_line(tmp_path):
    bad = subprocess.run([*PDLOGKIT, "view", str(tmp_path / "none.pdlz")], capture_output=True, text=True)
    assert bad.returncode == 3 and bad.stderr.count("\n") == 1 and "none.pdlz" in bad.stderr
    speed = subprocess.run([*PDLOGKIT, "view", str(tmp_path), "--speed", "nan"], capture_output=True, text=True)
    assert speed.returncode == 2 and "speed" in speed.stderr and sys.executable not in speed.stderr
