"""The `pdserver_replay` pytest fixture, used the way a user's test suite uses it."""

from __future__ import annotations

import pytest

from pdlogkit.synth import write_log

pytest_plugins = ["pytester"]

USER_TEST = """
import json
import urllib.request

import pytest
from websockets.sync.client import connect

from pdlogkit import open_log


def rpc(url, method, *params):
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}).encode()
    with urllib.request.urlopen(urllib.request.Request(url, body)) as response:
        return json.loads(response.read())["result"]


@pytest.mark.pdserver_replay(log="data/run.bin", speed=0, per_client=True)
def test_my_dashboard_sees_every_scan(pdserver_replay):
    expected = [e.payload for e in open_log(pdserver_replay.log.path).events()]
    with connect(pdserver_replay.ws_url, max_size=None) as ws:
        got = [ws.recv(timeout=10) for _ in expected]
        status = rpc(pdserver_replay.rpc_url, "playback_status")
    assert got == expected and status["per_client"] is True


def test_the_log_can_come_from_the_command_line(pdserver_replay):
    assert rpc(pdserver_replay.rpc_url, "playback_status")["speed"] == 3.0
    rpc(pdserver_replay.rpc_url, "playback_seek", 1.5)  # the state at 1.5 s, with no client connected
    pins = rpc(pdserver_replay.rpc_url, "get_electrode_pins")["drive_groups"][0]["pins"]
    assert len(pins) == 128 and all(type(pin) is bool for pin in pins)
"""


@pytest.fixture
def user_project(pytester: pytest.Pytester) -> pytest.Pytester:
    (pytester.path / "data").mkdir()
    write_log(pytester.path / "data" / "run.bin", 2.0, camera=False, seed=5)
    pytester.makepyfile(test_dashboard=USER_TEST)
    return pytester


def test_a_user_picks_the_log_with_a_marker_or_on_the_command_line(user_project: pytest.Pytester):
    result = user_project.runpytest(
        "--pdserver-replay-log", str(user_project.path / "data" / "run.bin"), "--pdserver-replay-speed", "3"
    )
    result.assert_outcomes(passed=2)


def test_without_a_log_the_fixture_says_how_to_give_one(user_project: pytest.Pytester):
    result = user_project.runpytest("-k", "command_line")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*pdserver_replay fixture needs a log*--pdserver-replay-log*"])


def test_the_marker_is_registered(pytester: pytest.Pytester):
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["*pdserver_replay(log=PATH*"])
