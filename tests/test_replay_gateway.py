"""The replay as a drop-in for the real gateway: what pdclient scripts, the web UI and the original tools see."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from replay_client import PDLOGKIT, PDSERVER, Served, call, client, get, result

from pdlogkit.boards import load_board
from pdlogkit.log import open_writer
from pdlogkit.replay import ReplayServer
from pdlogkit.replay.rpc import REPLAY_ERROR, UNAVAILABLE
from pdlogkit.synth import SynthStream, write_log

# What the live gateway answers (`pdserver --sim`, recorded in the protocol notes): one example per
# method, reduced here to its shape (types, lengths of the fixed-size lists) for comparison.
FLOAT, INT, BOOL = 0.5, 7, True
LIVE = {
    "get_scan_capacitance": {"raw": [INT] * 128, "calibrated": [FLOAT] * 128},
    "get_bulk_capacitance": [FLOAT] * 128,
    "get_group_capacitance": {"raw": [INT] * 5, "calibrated": [FLOAT] * 5},
    "get_active_capacitance": FLOAT,
    "get_electrode_pins": {
        "drive_groups": [{"pins": [BOOL] * 128, "duty_cycle": INT}] * 2,
        "scan_groups": [{"pins": [BOOL] * 128, "setting": INT}] * 5,
    },
    "get_temperatures": [FLOAT] * 4,
    "get_hv_supply_voltage": FLOAT,
    "get_device_info": {"connected": BOOL, "serial_number": "s", "software_version": "v"},
    "get_scan_gains": [BOOL] * 128,
    "get_parameter_definitions": {"parameters": []},
}
# ... and before the device's first report.
BEFORE_FIRST = {
    "get_scan_capacitance": {"raw": [], "calibrated": []},
    "get_bulk_capacitance": [],
    "get_group_capacitance": {"raw": [], "calibrated": []},
    "get_active_capacitance": 0.0,
    "get_electrode_pins": {
        "drive_groups": [{"pins": [False] * 128, "duty_cycle": 0}] * 2,
        "scan_groups": [{"pins": [False] * 128, "setting": 0}] * 5,
    },
    "get_temperatures": [],
    "get_hv_supply_voltage": 0.0,
    "get_device_info": {"connected": False, "serial_number": "", "software_version": ""},
    "get_scan_gains": [False] * 128,
    "get_parameter_definitions": {"parameters": []},
}


def shape(value: Any) -> Any:
    """The type skeleton of a JSON value: bool, int and float told apart, list lengths kept."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


@pytest.fixture(scope="module")
def sensor_pdlz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 s of sensors in a container whose metadata holds a board, as the recorder stores it."""
    path = tmp_path_factory.mktemp("gateway") / "run.pdlz"
    board = load_board("misl_v6.2").gateway_definition()
    with open_writer(path, metadata={"source": "test", "board": board}) as writer:
        for t, payload in SynthStream(30.0, seed=6, camera=False):
            writer.write(payload, t)
    return path


@pytest.fixture
def elsewhere(tmp_path: Path) -> dict[str, Any]:
    """An empty working folder and a home without boards of its own, for a command."""
    (tmp_path / "work").mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    return {"cwd": tmp_path / "work", "env": env}


def test_every_read_only_method_answers_the_live_gateways_shape(sensor_log):
    with ReplayServer(sensor_log, paused=True, board="misl_v6") as server:
        result(server.rpc_url, "playback_seek", 20)
        for method, example in LIVE.items():
            assert shape(result(server.rpc_url, method)) == shape(example), method
        board = result(server.rpc_url, "get_board_definition")
        assert set(board) == {"layout", "oversized_electrodes"} and set(board["layout"]) == {"grids", "peripherals"}


def test_before_the_first_event_of_a_kind_the_answers_are_the_gateways_not_null(tmp_path):
    """A log that holds only camera frames never fills any reading: every answer stays the default."""
    path = tmp_path / "frames.bin"
    write_log(path, 2.0, seed=2, rates=_no_sensors(), move_every=100.0, frame_size=(160, 120))
    with ReplayServer(path, speed=0, per_client=True) as server:
        with client(server.ws_url) as ws:
            ws.recv(timeout=10)
        for method, expected in BEFORE_FIRST.items():
            if method == "get_electrode_pins":
                continue  # the synthetic stream opens with an electrode_state
            answer = result(server.rpc_url, method)
            assert answer == expected and shape(answer) == shape(expected), method


def test_a_script_that_only_calls_rpc_sees_real_values_right_after_launch(sensor_log, elsewhere):
    """What a pdclient script does: no websocket, plain JSON-RPC calls with ids from 0, from launch on."""
    command = [*PDLOGKIT, "replay", str(sensor_log), "--ws-port", "0", "--http-port", "0", "--board", "misl_v6"]
    with Served(command, **elsewhere) as served:
        layout = call(served.rpc_url, "get_board_definition", rid=0)["result"]["layout"]  # PdClient.layout()
        assert [g["pitch"] for g in layout["grids"]] == [3.75, 2.5]
        deadline = time.monotonic() + 20
        while not (scan := call(served.rpc_url, "get_scan_capacitance", rid=1)["result"])["calibrated"]:
            assert time.monotonic() < deadline, "no scan played within 20 s of launch"
            time.sleep(0.05)
        assert len(scan["calibrated"]) == 128 and all(type(v) is int for v in scan["raw"])  # bulk_capacitance()
        assert sum(scan["calibrated"]) > 0  # a real reading, not the default
        assert type(call(served.rpc_url, "get_active_capacitance", rid=2)["result"]) is float
        assert call(served.rpc_url, "get_device_info", rid=3)["result"]["serial_number"] == "SYNTH-0001"
        assert call(served.rpc_url, "get_parameter_definitions", rid=4)["result"] == {"parameters": []}
        answer = call(served.rpc_url, "get_parameter", 3, rid=5)  # pdclient raises on an answer without result
        assert "result" not in answer and answer["error"]["code"] == UNAVAILABLE
        assert "parameter" in answer["error"]["message"]
        assert call(served.rpc_url, "set_electrode_pins", [1, 2], 0, 255, rid=6)["error"]["code"] == -32000
        unknown = call(served.rpc_url, "get_the_moon", rid=7)["error"]
        assert unknown["code"] == -32601 and unknown["message"] == "Method not found"
    assert served.process.returncode == 0, served.err


def test_board_names_work_from_an_empty_folder_for_both_commands(sensor_log, elsewhere):
    expected = load_board("misl_v6").gateway_definition()
    replay = [*PDLOGKIT, "replay", str(sensor_log), "--ws-port", "0", "--http-port", "0", "--board", "misl_v6"]
    pdserver = [
        *PDSERVER,
        "--replay",
        str(sensor_log),
        "--board",
        "misl_v6",
        "-v",
        "--ws-port",
        "0",
        "--http-port",
        "0",
    ]
    for command in (replay, pdserver):
        with Served(command, **elsewhere) as served:
            assert result(served.rpc_url, "get_board_definition") == expected
        assert served.process.returncode == 0, served.err


def test_pdserver_without_a_board_answers_the_original_default(boardless_log, elsewhere):
    command = [*PDSERVER, "--replay", str(boardless_log), "--ws-port", "0", "--http-port", "0"]
    with Served(command, **elsewhere) as served:
        assert result(served.rpc_url, "get_board_definition") == load_board("misl_v4").gateway_definition()


def test_the_board_a_log_holds_is_answered_when_none_is_given(sensor_pdlz):
    with ReplayServer(sensor_pdlz, paused=True) as server:
        assert result(server.rpc_url, "get_board_definition") == load_board("misl_v6.2").gateway_definition()
    with ReplayServer(sensor_pdlz, paused=True, board="misl_v3") as server:  # --board wins
        assert result(server.rpc_url, "get_board_definition") == load_board("misl_v3").gateway_definition()


def test_without_any_board_get_board_definition_says_how_to_give_one(boardless_log):
    with ReplayServer(boardless_log, paused=True) as server:
        error = call(server.rpc_url, "get_board_definition")["error"]
    assert error["code"] == UNAVAILABLE and "--board" in error["message"]


def test_pdserver_accepts_verbose_and_refuses_sim_with_one_line(sensor_log, elsewhere):
    sim = subprocess.run([*PDSERVER, "--replay", str(sensor_log), "--sim", "5,10"], capture_output=True, text=True)
    assert sim.returncode == 2 and len(sim.stderr.strip().splitlines()) == 1 and "--sim" in sim.stderr
    bare = subprocess.run([*PDSERVER, "--sim"], capture_output=True, text=True)
    assert bare.returncode == 2 and len(bare.stderr.strip().splitlines()) == 1
    command = [*PDSERVER, "--replay", str(sensor_log), "-vv", "--ws-port", "0", "--http-port", "0"]
    with Served(command, **elsewhere) as served, client(served.ws_url) as ws:
        ws.recv(timeout=10)
    assert served.process.returncode == 0 and "connected" in served.err  # -vv logs the client


def small_web_app(root: Path) -> dict[str, bytes]:
    files = {
        "index.html": b"<!doctype html><title>Live View</title><script src=app.js></script>",
        "app.js": b"fetch('/rpc', {method: 'POST', body: '{}'});",
        "static/style.css": b"body { color: purple }",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


@pytest.mark.parametrize("packed", [False, True], ids=["folder", "tarball"])
def test_the_web_ui_is_served_at_the_root_beside_the_control_api(sensor_log, tmp_path, packed):
    folder = tmp_path / "dist"
    folder.mkdir()
    files = small_web_app(folder)
    web_ui = folder
    if packed:  # like the gateway's frontend-dist.tar.gz: every file under one folder
        web_ui = tmp_path / "frontend-dist.tar.gz"
        with tarfile.open(web_ui, "w:gz") as tar:
            tar.add(folder, arcname="dist")
            link = tarfile.TarInfo("dist/passwd")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(link, io.BytesIO())
    command = [*PDLOGKIT, "replay", str(sensor_log), "--ws-port", "0", "--http-port", "0", "--web-ui", str(web_ui)]
    with Served(command) as served:
        base = served.rpc_url[: -len("/rpc")]
        assert get(base + "/") == (200, "text/html; charset=utf-8", files["index.html"])
        status, content_type, body = get(base + "/app.js")
        assert status == 200 and content_type.startswith("text/javascript") and body == files["app.js"]
        assert get(base + "/static/style.css")[2] == files["static/style.css"]
        assert get(base + "/passwd")[0] == 404 and get(base + "/../../etc/passwd")[0] == 404
        assert result(served.rpc_url, "get_parameter_definitions") == {"parameters": []}  # what the page calls


def test_a_web_ui_that_is_not_one_is_a_clear_error(sensor_log, tmp_path):
    (tmp_path / "empty").mkdir()
    run = subprocess.run(
        [
            *PDLOGKIT,
            "replay",
            str(sensor_log),
            "--ws-port",
            "0",
            "--http-port",
            "0",
            "--web-ui",
            str(tmp_path / "empty"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "no index.html" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize(
    "option",
    [
        ["--start", "inf"],
        ["--end", "nan"],
        ["--client-buffer", "inf"],
        ["--client-buffer", "0"],
        ["--ws-port", "99999"],
        ["--http-port", "-1"],
        ["--speed", "nan"],
        ["--speed", "-1"],
    ],
)
def test_bad_numbers_are_a_one_line_usage_error(sensor_log, option):
    run = subprocess.run([*PDLOGKIT, "replay", str(sensor_log), *option], capture_output=True, text=True)
    assert run.returncode == 2, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr


@pytest.mark.parametrize(
    "options", [{"ws_port": 99999}, {"http_port": -1}, {"start": float("inf")}, {"client_buffer": 0}, {"speed": 2e6}]
)
def test_bad_numbers_are_a_value_error_in_the_library(sensor_log, options):
    with pytest.raises(ValueError):
        ReplayServer(sensor_log, **options)


def test_a_window_past_the_logs_end_is_refused_naming_the_span(sensor_log):
    run = subprocess.run([*PDLOGKIT, "replay", str(sensor_log), "--start", "200"], capture_output=True, text=True)
    assert run.returncode == 1 and "past the log's end" in run.stderr and "spans 0 to 59.99" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_a_corrupt_log_reached_through_the_control_api_is_a_server_error(tmp_path):
    """A seek whose state read meets the damage answers why, not -32602 "invalid params"."""
    path = tmp_path / "bad.pdlz"
    write_log(path, 20.0, seed=4, camera=False)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    path.write_bytes(data)
    with ReplayServer(path, paused=True) as server:
        errors = [call(server.rpc_url, "playback_seek", s).get("error") for s in range(1, 20)]
        errors = [e for e in errors if e is not None]
        assert errors and all(e["code"] == REPLAY_ERROR and "bad.pdlz" in e["message"] for e in errors)
        assert result(server.rpc_url, "playback_status")["paused"] is True  # still serving


def _no_sensors() -> Any:
    from pdlogkit.synth import Rates

    return Rates(0, 0, 0, 0, 0, 0)
