"""What the recorder asks the gateway (board, device info) and how it comes back after a restart:
real gateways and a real HTTP JSON-RPC control API of the test's own, on 127.0.0.1."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pdlogkit import EventRecorder, open_log
from pdlogkit.formats import container as fmt
from pdlogkit.record.engine import RetryDelays
from pdlogkit.record.gateway import rpc_url_for
from pdlogkit.synth import SynthGateway

BOARDS = Path(__file__).resolve().parent.parent / "pdlogkit" / "boards"


def _board_answer() -> dict:
    """What a live gateway answers to get_board_definition for a real board (protocol.md)."""
    board = json.loads((BOARDS / "misl_v4.json").read_text())
    layout = {key: board["layout"][key] for key in ("grids", "peripherals") if key in board["layout"]}
    return {"layout": layout, "oversized_electrodes": board.get("oversized_electrodes", [])}


DEVICE = {"connected": True, "serial_number": "PD-0042", "software_version": "v0.5.1"}


class ControlApi:
    """A real JSON-RPC 2.0 control API over HTTP (`POST /rpc`) on a free port; answers may wait for `release`."""

    def __init__(self, answers: dict, *, delay: float = 0.0) -> None:
        self.answers = answers
        self.delay = delay
        self.release = threading.Event()
        self.release.set()
        self.calls: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.calls.append(request["method"])
                api.release.wait(30)
                time.sleep(api.delay)
                if request["method"] in api.answers:
                    reply = {"jsonrpc": "2.0", "result": api.answers[request["method"]], "id": request["id"]}
                else:
                    reply = {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}}
                    reply["id"] = request["id"]
                body = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/rpc"

    def __enter__(self) -> ControlApi:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def gateway():
    with SynthGateway(frame_size=(96, 64)) as gw:
        yield gw


def _wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_board_and_device_info_land_in_the_metadata_even_when_learned_after_the_file_began(gateway, tmp_path):
    answers = {"get_board_definition": _board_answer(), "get_device_info": DEVICE}
    with ControlApi(answers) as api:
        api.release.clear()  # the control API holds its answers until the file has begun
        with EventRecorder(gateway.ws_url, rpc_url=api.url) as rec:
            rec.start(tmp_path / "run.pdlz")
            api.release.set()
            _wait(lambda: "board" in rec.metadata)
            rec.stop()
            rec.start(tmp_path / "next.pdlz")  # a later file gets them in its header
            rec.stop()
            assert api.calls.count("get_board_definition") == 1  # once per connection
            gateway.restart(downtime=0.1)
            _wait(lambda: api.calls.count("get_board_definition") == 2)
    log = open_log(tmp_path / "run.pdlz")
    assert log.metadata["board"] == _board_answer()  # exactly the control API's answer
    assert log.metadata["device_info"] == DEVICE
    assert "board_error" not in log.metadata and "device_info_error" not in log.metadata
    header, _ = fmt.decode_header((tmp_path / "run.pdlz").read_bytes())
    assert "board" not in header  # it came as a metadata update inside the file
    header, _ = fmt.decode_header((tmp_path / "next.pdlz").read_bytes())
    assert header["board"] == _board_answer()


@pytest.mark.parametrize(
    ("answers", "delay", "reason"),
    [
        ({"get_device_info": DEVICE}, 0.0, "get_board_definition at .*: error -32601: Method not found"),
        ({"get_board_definition": {"layout": {}}, "get_device_info": DEVICE}, 3.0, "no answer within 1 s"),
    ],
    ids=["method-missing", "too-slow"],
)
def test_a_control_api_that_does_not_answer_is_said_in_the_metadata(gateway, tmp_path, answers, delay, reason):
    with ControlApi(answers, delay=delay) as api, EventRecorder(gateway.ws_url, rpc_url=api.url) as rec:
        rec.start(tmp_path / "run.pdlz")
        _wait(lambda: "board_error" in rec.metadata and rec.status().segment_events > 0)
        summary = rec.stop()
    log = open_log(tmp_path / "run.pdlz")
    assert "board" not in log.metadata
    assert re.search(reason, log.metadata["board_error"]), log.metadata["board_error"]
    assert summary.events > 0 and summary.events == len(list(log))  # the recording went on regardless


def test_no_control_api_at_all_costs_the_recording_nothing(gateway, tmp_path):
    with EventRecorder(gateway.ws_url, rpc_url="http://127.0.0.1:9/rpc") as rec:
        rec.start(tmp_path / "run.pdlz")
        _wait(lambda: "device_info_error" in rec.metadata and rec.status().segment_events > 0)
        summary = rec.stop()
    metadata = open_log(tmp_path / "run.pdlz").metadata
    assert "connection refused" in metadata["board_error"] and "http://127.0.0.1:9/rpc" in metadata["board_error"]
    assert summary.events > 0


def test_the_control_api_is_the_gateways_host_on_port_7000_by_default():
    assert rpc_url_for("ws://purpledrop:7001") == "http://purpledrop:7000/rpc"
    assert rpc_url_for("wss://10.0.0.5:7001/") == "https://10.0.0.5:7000/rpc"
    assert rpc_url_for("ws://[::1]:7001") == "http://[::1]:7000/rpc"
    with pytest.raises(ValueError, match="control API URL"):
        EventRecorder("ws://127.0.0.1:9", rpc_url="ftp://x/rpc")


def test_the_wait_between_reconnection_attempts_never_grows_past_a_quarter_second():
    delays = RetryDelays()
    waits = [delays.next() for _ in range(1000)]  # a gateway down for a long time
    assert waits[:4] == [0.05, 0.1, 0.2, 0.25]
    assert max(waits) == 0.25
    delays.reset()
    assert delays.next() == 0.05


def test_the_recorder_comes_back_after_each_of_five_gateway_restarts(gateway, tmp_path):
    with EventRecorder(gateway.ws_url, include={"active_capacitance"}, rpc_url="http://127.0.0.1:9/rpc") as rec:
        rec.start(tmp_path / "run.pdlz")
        for n in range(1, 6):
            received = rec.status().received
            gateway.restart(downtime=0.8)  # long enough for an exponential backoff to have grown
            _wait(lambda n=n: rec.status().reconnects == n)
            _wait(lambda received=received: rec.status().received > received + 5)
        summary = rec.stop()
    assert summary.reconnects == 5 and len(summary.gaps) == 5
    assert summary.events == len(list(open_log(tmp_path / "run.pdlz")))


KILLED = textwrap.dedent(
    """
    import sys, time
    from pdlogkit import EventRecorder
    rec = EventRecorder(sys.argv[1], rpc_url=sys.argv[3])
    rec.start(sys.argv[2])
    rec.mark("dispense reagent B", step=3)
    print("marked", flush=True)
    time.sleep(60)
    """
)


def test_a_marker_added_live_survives_a_killed_recorder(gateway, tmp_path):
    path = tmp_path / "killed.pdlz"
    answers = {"get_board_definition": _board_answer(), "get_device_info": DEVICE}
    with ControlApi(answers) as api:
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED, gateway.ws_url, str(path), api.url], stdout=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout.readline().strip() == "marked"

            def in_file() -> bool:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    log = open_log(path)
                    return bool(log.markers()) and "board" in log.metadata

            _wait(in_file)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log = open_log(path)
        [marker] = log.markers()
        assert (marker.text, marker.fields) == ("dispense reagent B", {"step": 3})
        assert log.metadata["board"] == _board_answer() and not log.has_index
        assert len(list(log)) > 0
