"""The replay server as a client sees it: real websocket clients, real HTTP requests, real logs."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect as aconnect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from pdlogkit import open_log
from pdlogkit import schema as pb
from pdlogkit.events import Event
from pdlogkit.log import open_writer
from pdlogkit.replay import DeviceState, ReplayServer
from pdlogkit.synth import DEFAULT_START_NS, write_log
from pdlogkit.timeline import log_clock

# The command as the installed package runs it, whether or not its venv is on PATH.
PDLOGKIT = [sys.executable, "-m", "pdlogkit"]


@pytest.fixture(scope="module")
def camera_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 s with a small camera (320x240 at 10 frames/s)."""
    path = tmp_path_factory.mktemp("replay") / "camera.bin"
    write_log(path, 10.0, seed=3, frame_size=(320, 240))
    return path


def payloads(path: Path, **window) -> list[bytes]:
    with open_log(path) as log:
        return [e.payload for e in log.events(**window)]


def rpc(server: ReplayServer, method: str, *params) -> dict:
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}).encode()
    return post(server.rpc_url, body)[1]


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def result(server: ReplayServer, method: str, *params):
    answer = rpc(server, method, *params)
    assert "error" not in answer, answer
    return answer["result"]


def client(url: str):
    """A websocket client that takes messages of any size and keeps reading while the test looks away."""
    return connect(url, max_size=None, max_queue=None)


def receive(url: str, count: int, timeout: float = 20.0) -> list[bytes]:
    with client(url) as ws:
        return [ws.recv(timeout=timeout) for _ in range(count)]


def expected_state(path: Path, seconds: float) -> DeviceState:
    """The state at `seconds`, the slow way: a full scan keeping the latest event of each kind."""
    state = DeviceState()
    with open_log(path) as log:
        limit = log.start_ns + round(seconds * 1e9)
        for t, event in log_clock(log.events(), log.start_ns):
            if t is not None and t < limit:
                state.update(event)
    return state


def test_every_event_is_replayed_byte_for_byte_one_message_each(camera_log):
    expected = payloads(camera_log)
    with (
        ReplayServer(camera_log, speed=0, per_client=True) as server,
        client(server.ws_url) as ws,
    ):
        got = [ws.recv(timeout=20) for _ in expected]
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)
    assert got == expected


def test_with_wait_the_broadcast_holds_until_the_first_client_so_it_misses_nothing(camera_log):
    expected = payloads(camera_log)
    with ReplayServer(camera_log, speed=1, wait=True) as server:
        time.sleep(0.3)
        status = server.status()
        assert status["waiting"] and status["time"] == 0.0 and status["events_sent"] == 0
        assert receive(server.ws_url, 5) == expected[:5]


def test_broadcast_late_joiners_get_the_events_from_then_on(camera_log):
    expected = payloads(camera_log)

    async def scenario(url: str) -> tuple[list[bytes], list[bytes]]:
        async with aconnect(url, max_size=None) as first:
            early = [await first.recv() for _ in range(300)]
            async with aconnect(url, max_size=None) as late:
                early += [await first.recv() for _ in range(len(expected) - 300)]
                joined = []
                while True:
                    try:
                        joined.append(await asyncio.wait_for(late.recv(), 1.0))
                    except TimeoutError:
                        return early, joined

    with ReplayServer(camera_log, speed=8, wait=True) as server:
        early, joined = asyncio.run(scenario(server.ws_url))
    assert early == expected
    assert 0 < len(joined) < len(expected) - 300
    assert joined == expected[-len(joined) :]


def test_per_client_playback_gives_every_client_its_own_timeline_from_start(camera_log):
    expected = payloads(camera_log, start=6.0)
    with ReplayServer(camera_log, speed=0, per_client=True, start=6.0) as server:
        first = receive(server.ws_url, len(expected))
        second = receive(server.ws_url, len(expected))
    assert first == second == expected


def test_kinds_and_exclude_choose_what_is_sent(camera_log):
    all_events = payloads(camera_log)
    with open_log(camera_log) as log:
        no_images = [e.payload for e in log.events() if e.kind != "image"]
        scans = [e.payload for e in log.events(kinds=["scan_capacitance"])]
    assert len(no_images) < len(all_events)
    with ReplayServer(camera_log, speed=0, per_client=True, exclude=["image"]) as server:
        assert receive(server.ws_url, len(no_images)) == no_images
    with (
        ReplayServer(camera_log, speed=0, per_client=True, kinds=["scan_capacitance"]) as server,
        client(server.ws_url) as ws,
    ):
        assert [ws.recv(timeout=20) for _ in scans] == scans
        assert result(server, "get_temperatures")  # the state still follows the whole log


def test_looping_replays_the_window_again_and_again(sensor_log):
    window = payloads(sensor_log, end=2.0)
    with ReplayServer(sensor_log, speed=0, end=2.0, loop=True, per_client=True) as server:
        got = receive(server.ws_url, 2 * len(window) + 10)
        assert server.stats.loops >= 2
    assert got[: len(window)] == got[len(window) : 2 * len(window)] == window


def test_pause_seek_and_speed_through_the_control_api(sensor_log):
    with ReplayServer(sensor_log, paused=True) as server, client(server.ws_url) as ws:
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.5)
        assert result(server, "playback_status")["playing"] is False
        status = result(server, "playback_seek", 30)
        assert status["time"] == 30.0 and status["duration"] == pytest.approx(60.0, abs=0.2)
        assert result(server, "playback_speed", 2.5)["speed"] == 2.5
        assert result(server, "playback_enable", True)["playing"] is True
        first = seconds_into_log(ws)
        assert 30.0 <= first < 30.5
        time.sleep(0.4)
        status = result(server, "playback_enable", False)
        assert status["playing"] is False and 30.5 < status["time"] < 35
        time.sleep(0.3)
        assert result(server, "playback_status")["time"] == status["time"]


def seconds_into_log(ws) -> float:
    """Seconds from the (synthetic) log start of the next received event that has a timestamp."""
    while True:
        t = Event(ws.recv(timeout=5)).time_ns
        if t is not None:
            return (t - DEFAULT_START_NS) / 1e9


def test_state_methods_answer_the_log_at_the_playback_time(sensor_log):
    with ReplayServer(sensor_log, paused=True, board="misl_v6") as server:
        assert result(server, "get_board_definition")["layout"]["grids"][0]["pitch"] == 3.75
        assert result(server, "get_parameter_definitions") == {"parameters": []}
        for seconds in (0.7, 17.3, 44.0):
            result(server, "playback_seek", seconds)
            state = expected_state(sensor_log, seconds)
            scan = result(server, "get_scan_capacitance")
            assert scan == state.scan_capacitance() and len(scan["raw"]) == 128
            assert result(server, "get_bulk_capacitance") == scan["calibrated"]
            assert result(server, "get_group_capacitance") == state.group_capacitance()
            assert result(server, "get_active_capacitance") == state.active_capacitance()
            assert result(server, "get_electrode_pins") == state.electrode_pins()
            assert result(server, "get_temperatures") == state.temperatures()
            assert result(server, "get_hv_supply_voltage") == state.hv_supply_voltage()
        pins = result(server, "get_electrode_pins")["drive_groups"][0]["pins"]
        assert len(pins) == 128 and pins.count(True) == 1


def test_the_control_api_rejects_bad_calls_with_json_rpc_errors_never_http_500(boardless_log):
    with ReplayServer(boardless_log, paused=True) as server:
        answer = rpc(server, "set_electrode_pins", [True] * 128)
        assert answer["error"]["code"] == -32000 and "read-only" in answer["error"]["message"]
        assert rpc(server, "move_drops", [])["error"]["code"] == -32000
        assert rpc(server, "get_board_definition")["error"]["message"].startswith("no board definition")
        assert rpc(server, "no_such_method")["error"]["code"] == -32601
        assert rpc(server, "playback_seek")["error"]["code"] == -32602
        assert rpc(server, "playback_seek", "soon")["error"]["code"] == -32602
        assert rpc(server, "playback_speed", -2)["error"]["code"] == -32602
        assert rpc(server, "playback_enable", "yes")["error"]["code"] == -32602
        for malformed in (b"{oops", b"[1", b"", b"\xff"):
            status, answer = post(server.rpc_url, malformed)
            assert status == 200 and answer["error"]["code"] == -32700
        assert post(server.rpc_url, b'"hello"')[1]["error"]["code"] == -32600
        assert post(server.http_url + "/elsewhere", b"{}")[0] == 404
        with urllib.request.urlopen(server.http_url + "/rpc/map") as response:
            methods = json.loads(response.read())["methods"]
        assert {"get_scan_capacitance", "playback_seek", "playback_enable", "playback_status"} <= set(methods)
        assert methods["playback_seek"]["params"] == ["seconds"]
        with urllib.request.urlopen(server.http_url + "/status") as response:
            assert b"pdlogkit replay" in response.read()
        with urllib.request.urlopen(server.http_url + "/") as response:
            assert b"pdlogkit viewer" in response.read()
        assert result(server, "playback_status")["paused"] is True  # still serving


def test_the_async_context_manager_serves_in_the_callers_loop(camera_log):
    expected = payloads(camera_log, end=1.0)

    async def scenario() -> list[bytes]:
        async with ReplayServer(camera_log, speed=0, end=1.0, per_client=True) as server:
            assert server.ws_url.startswith("ws://127.0.0.1:") and server.rpc_url.endswith("/rpc")
            async with aconnect(server.ws_url, max_size=None) as ws:
                got = [await ws.recv() for _ in expected]
            assert (await asyncio.to_thread(rpc, server, "playback_status"))["result"]["per_client"] is True
            return got

    assert asyncio.run(scenario()) == expected


def test_the_replay_command_serves_until_interrupted(camera_log):
    expected = payloads(camera_log)
    command = [*PDLOGKIT, "replay", str(camera_log), "--ws-port", "0", "--http-port", "0", "--speed", "0"]
    process = subprocess.Popen([*command, "--per-client"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        match = re.match(r"events: (ws://\S+)  control: (http://\S+/rpc)", line)
        assert match, line
        assert receive(match.group(1), len(expected)) == expected
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert f"sent {len(expected)} events to 1 client(s)" in err


def test_the_replay_command_reports_bad_input_clearly(tmp_path, camera_log):
    missing = subprocess.run([*PDLOGKIT, "replay", str(tmp_path / "nope.bin")], capture_output=True, text=True)
    assert missing.returncode == 3 and "nope.bin" in missing.stderr and "Traceback" not in missing.stderr
    board = tmp_path / "board.json"
    board.write_text("{not json")
    bad_board = subprocess.run(
        [*PDLOGKIT, "replay", str(camera_log), "--board", str(board)], capture_output=True, text=True
    )
    assert bad_board.returncode == 2 and "board.json is not valid JSON" in bad_board.stderr  # a wrong --board


def test_on_a_terminal_space_pauses_and_resumes(camera_log):
    main, terminal = pty.openpty()
    command = [*PDLOGKIT, "replay", str(camera_log), "--ws-port", "0", "--http-port", "0", "--no-wait", "--loop"]
    process = subprocess.Popen(command, stdin=terminal, stderr=terminal, stdout=subprocess.PIPE, text=True)
    os.close(terminal)
    try:
        match = re.match(r"events: \S+  control: (http://\S+/rpc)", process.stdout.readline())  # type: ignore[union-attr]
        assert match
        url = match.group(1)

        def status() -> dict:
            body = json.dumps({"jsonrpc": "2.0", "method": "playback_status", "id": 1}).encode()
            return post(url, body)[1]["result"]

        assert status()["paused"] is False
        for paused in (True, False):
            os.write(main, b" ")
            deadline = time.monotonic() + 5
            while status()["paused"] is not paused and time.monotonic() < deadline:
                time.sleep(0.05)
            assert status()["paused"] is paused
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
        os.close(main)
    assert process.returncode == 0


def test_the_original_pdserver_replay_interface_reports_a_missing_log(tmp_path, capsys):
    from pdlogkit.cli.replay import pdserver_main

    assert pdserver_main(["--replay", str(tmp_path / "gone.pdlog")]) == 3
    assert "gone.pdlog" in capsys.readouterr().err


def test_an_indexed_log_replays_byte_for_byte_and_seeks_with_its_index(tmp_path):
    path = tmp_path / "run.pdlz"
    write_log(path, 30.0, seed=4, frame_size=(320, 240))
    expected = payloads(path)
    with ReplayServer(path, speed=0, per_client=True) as server:
        assert receive(server.ws_url, len(expected)) == expected
    with ReplayServer(path, paused=True) as server:
        for seconds in (25.0, 3.5):
            result(server, "playback_seek", seconds)
            state = expected_state(path, seconds)
            assert result(server, "get_electrode_pins") == state.electrode_pins()
            assert result(server, "get_scan_capacitance") == state.scan_capacitance()


# --- hard logs and hostile clients ------------------------------------------------

S = 1_000_000_000


def hv_at(t_ns: int) -> bytes:
    stamp = pb.Timestamp(seconds=t_ns // S, nanos=t_ns % S)
    return pb.PurpleDropEvent(hv_regulator=pb.HvRegulator(voltage=t_ns % 1000, timestamp=stamp)).SerializeToString()


def test_a_clock_stepping_back_an_hour_neither_stalls_nor_jumps_the_replay(tmp_path):
    """Times 10 s, 11 s, then the host clock steps back an hour: 3590 s, 3591 s."""
    path = tmp_path / "step.bin"
    times = [DEFAULT_START_NS + 3600 * S + t * S for t in (10, 11)] + [DEFAULT_START_NS + t * S for t in (0, 1)]
    with open_writer(path) as writer:
        for t in times:
            writer.write(hv_at(t))
    expected = payloads(path)
    with ReplayServer(path, speed=4, wait=True) as server:
        assert result(server, "playback_status")["duration"] == 2.0  # 0, 1, 1 (the step), 2
        with client(server.ws_url) as ws:
            assert [ws.recv(timeout=5) for _ in expected] == expected  # an hour stall would time out
        result(server, "playback_enable", False)
        assert result(server, "playback_seek", 1.5)["time"] == 1.5
        with client(server.ws_url) as ws:
            result(server, "playback_enable", True)
            assert ws.recv(timeout=5) == expected[3]  # position 2 s: after the step


def test_a_classic_log_without_any_timestamp_replays_every_event(tmp_path):
    """device_info and electrode_state carry no timestamp; a log of only those still plays."""
    path = tmp_path / "untimed.bin"
    with open_writer(path) as writer:
        writer.write(pb.PurpleDropEvent(device_info=pb.DeviceInfo(connected=True)).SerializeToString())
        for on in range(5):
            group = pb.ElectrodeGroup(electrodes=[i == on for i in range(128)], setting=200)
            writer.write(
                pb.PurpleDropEvent(electrode_state=pb.ElectrodeState(drive_groups=[group])).SerializeToString()
            )
    expected = payloads(path)
    assert len(expected) == 6
    for per_client in (False, True):
        with ReplayServer(path, speed=1, per_client=per_client, wait=True) as server:
            assert receive(server.ws_url, 6, timeout=5) == expected
            if not per_client:
                assert result(server, "get_electrode_pins")["drive_groups"][0]["pins"].index(True) == 4


@pytest.fixture(scope="module")
def corrupt_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A container with 64 bytes flipped in its middle."""
    folder = tmp_path_factory.mktemp("replay")
    write_log(folder / "good.pdlz", 20.0, seed=4, camera=False)
    data = bytearray((folder / "good.pdlz").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    (folder / "bad.pdlz").write_bytes(data)
    return folder / "bad.pdlz"


def read_until_closed(ws) -> tuple[int, ConnectionClosed]:
    count = 0
    try:
        while True:
            ws.recv(timeout=10)
            count += 1
    except ConnectionClosed as closed:
        return count, closed


def test_a_corrupt_log_ends_the_replay_with_a_reason_clients_and_status_can_read(corrupt_log):
    with ReplayServer(corrupt_log, speed=0) as server:
        with client(server.ws_url) as ws:
            count, closed = read_until_closed(ws)
        status = result(server, "playback_status")
    assert count > 0 and closed.rcvd is not None and closed.rcvd.code == 1011
    assert "bad.pdlz" in closed.rcvd.reason and "corrupt" in closed.rcvd.reason
    assert status["finished"] is True and status["playing"] is False and "corrupt" in status["error"]


def test_the_replay_command_exits_non_zero_on_a_corrupt_log(corrupt_log):
    command = [*PDLOGKIT, "replay", str(corrupt_log), "--ws-port", "0", "--http-port", "0", "--speed", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        match = re.match(r"events: (ws://\S+)", process.stdout.readline())  # type: ignore[union-attr]
        assert match
        with client(match.group(1)) as ws:
            assert read_until_closed(ws)[1].rcvd.code == 1011  # type: ignore[union-attr]
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 3, err
    assert "Traceback" not in err and "cannot replay the log: " in err and "corrupt" in err.splitlines()[-1]


def test_a_log_opened_leniently_replays_past_its_corrupt_chunk(corrupt_log):
    with open_log(corrupt_log, lenient=True) as log:
        expected = [e.payload for e in log.events()]
        with ReplayServer(log, speed=0, per_client=True) as server:
            assert receive(server.ws_url, len(expected), timeout=10) == expected
            assert result(server, "playback_status")["error"] is None
