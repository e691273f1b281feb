"""pytest plugin: the `pdserver_replay` fixture, a replaying fake gateway for testing client code offline.

    @pytest.mark.pdserver_replay(log="data/run.pdlz", speed=10, per_client=True)
    def test_my_dashboard(pdserver_replay):
        dashboard = Dashboard(pdserver_replay.ws_url, pdserver_replay.rpc_url)
        ...

The log comes from the marker (a path relative to the test file, or absolute) or
from `--pdserver-replay-log`; the marker's other arguments go to `ReplayServer`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

MARKER = "pdserver_replay"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pdlogkit", "pdlogkit replay server (pdserver_replay fixture)")
    group.addoption("--pdserver-replay-log", metavar="LOG", help="log the pdserver_replay fixture replays")
    group.addoption("--pdserver-replay-speed", metavar="X", type=float, help="its speed factor (default 1)")
    group.addoption("--pdserver-replay-board", metavar="NAME", help="its board: a name (misl_v6) or a JSON file")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(log=PATH, speed=1.0, per_client=False, board=None, ...): "
        "the log and ReplayServer options of the pdserver_replay fixture",
    )


def _resolve(path: str | Path, request: pytest.FixtureRequest) -> Path:
    path = Path(path)
    if not path.is_absolute():
        beside = Path(request.path).parent / path
        if beside.exists():
            return beside
    return path


@pytest.fixture
def pdserver_replay(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A `ReplayServer` replaying a log on free ports of 127.0.0.1 (see `ws_url`, `rpc_url`)."""
    from .server import ReplayServer

    options: dict[str, Any] = {}
    config = request.config
    if config.getoption("pdserver_replay_log"):
        options["log"] = config.getoption("pdserver_replay_log")
    if config.getoption("pdserver_replay_speed") is not None:
        options["speed"] = config.getoption("pdserver_replay_speed")
    if config.getoption("pdserver_replay_board"):
        options["board"] = config.getoption("pdserver_replay_board")
    for marker in reversed(list(request.node.iter_markers(MARKER))):  # the closest marker wins
        if marker.args:
            options["log"] = marker.args[0]
        options.update(marker.kwargs)
    if "log" not in options:
        pytest.fail(
            f"the {MARKER} fixture needs a log: mark the test with @pytest.mark.{MARKER}(log=PATH) "
            "or run pytest with --pdserver-replay-log PATH",
            pytrace=False,
        )
    log = options.pop("log")
    if isinstance(log, str | Path):
        log = _resolve(log, request)
        if not log.exists():
            pytest.fail(f"{MARKER}: log not found: {log}", pytrace=False)
    if isinstance(options.get("board"), str | Path):
        options["board"] = _resolve(options["board"], request)
    with ReplayServer(log, **options) as server:
        yield server
