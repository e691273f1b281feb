"""The replay's pure core: the playback timeline, the anchored schedule, the replayed state, JSON-RPC."""

from __future__ import annotations

import asyncio
import json

import pytest

from pdlogkit import open_log
from pdlogkit import schema as pb
from pdlogkit.errors import LogFormatError
from pdlogkit.events import Event
from pdlogkit.log import open_writer
from pdlogkit.replay.rpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    READ_ONLY,
    REPLAY_ERROR,
    Dispatcher,
)
from pdlogkit.replay.schedule import Schedule, positions
from pdlogkit.replay.state import DeviceState, state_at

S = 1_000_000_000
T0 = 1_767_225_600 * S


def ts(t_ns: int) -> pb.Timestamp:
    return pb.Timestamp(seconds=t_ns // S, nanos=t_ns % S)


def hv(t_ns: int | None, volts: float = 200.0) -> bytes:
    msg = pb.HvRegulator(voltage=volts, timestamp=ts(t_ns) if t_ns is not None else None)
    return pb.PurpleDropEvent(hv_regulator=msg).SerializeToString()


def scan(t_ns: int, value: float) -> bytes:
    measurements = [pb.CapacitanceMeasurement(capacitance=value + i, raw=1000 * value + i) for i in range(128)]
    msg = pb.ScanCapacitance(timestamp=ts(t_ns), measurements=measurements)
    return pb.PurpleDropEvent(scan_capacitance=msg).SerializeToString()


def pins(on: int) -> bytes:
    drive = pb.ElectrodeGroup(electrodes=[i == on for i in range(128)], setting=200)
    idle = pb.ElectrodeGroup(electrodes=[False] * 128)
    return pb.PurpleDropEvent(electrode_state=pb.ElectrodeState(drive_groups=[drive, idle])).SerializeToString()


# --- the playback timeline ---------------------------------------------------


def test_positions_follow_the_log_clock_from_the_log_start():
    events = [Event(hv(None), received_ns=T0 + t) for t in (0, S // 2, 3 * S)]
    assert [p for p, _ in positions(events, T0)] == [0, S // 2, 3 * S]


def test_an_event_without_time_is_played_right_after_its_predecessor():
    events = [Event(hv(T0 + 2 * S)), Event(pins(3)), Event(hv(T0 + 5 * S))]
    assert [p for p, _ in positions(events, T0)] == [2 * S, 2 * S, 5 * S]


def test_a_clock_stepping_back_neither_stalls_nor_jumps_the_playback():
    times = [T0 + 10 * S, T0 + 11 * S, T0 - 3600 * S, T0 - 3599 * S]
    events = [Event(hv(t)) for t in times]
    assert [p for p, _ in positions(events, T0)] == [10 * S, 11 * S, 11 * S, 12 * S]


def test_after_a_seek_positions_count_from_the_log_start_and_gaps_are_kept():
    events = [Event(hv(T0 + t * S)) for t in (42, 43)]
    assert [p for p, _ in positions(events, T0, at_ns=40 * S)] == [42 * S, 43 * S]


def test_events_are_due_at_a_fixed_anchor_plus_their_position_over_the_speed():
    schedule = Schedule(speed=2.0)
    schedule.start(now=100.0, position_ns=10 * S)
    assert schedule.due(10 * S) == 100.0
    assert schedule.due(14 * S) == pytest.approx(102.0)
    assert schedule.position(101.0) == 12 * S


def test_a_speed_change_reanchors_where_the_playback_is():
    schedule = Schedule(speed=1.0)
    schedule.start(now=0.0, position_ns=0)
    schedule.set_speed(10.0, now=5.0, position_ns=schedule.position(5.0))
    assert schedule.due(15 * S) == pytest.approx(6.0)


def test_speeds_beyond_a_million_are_refused_rather_than_overflowing():
    with pytest.raises(ValueError, match="speed"):
        Schedule(10**400)
    with pytest.raises(ValueError, match="speed"):
        Schedule(1e300)
    assert Schedule(1e6).position(1e9) > 0


def test_speed_zero_makes_everything_due_now_and_bad_speeds_are_refused():
    schedule = Schedule(speed=0)
    assert schedule.due(10**15) == float("-inf")
    for bad in (-1, float("nan"), float("inf"), "fast", True, 1e-300, 0.0009):  # too slow: a playback that never moves
        with pytest.raises(ValueError, match="speed"):
            Schedule(speed=bad)  # type: ignore[arg-type]
    assert Schedule(speed=0.001).speed == 0.001


# --- the replayed state ------------------------------------------------------


def test_before_any_event_the_state_answers_what_the_gateway_answers_before_its_first_reading():
    state = DeviceState()
    assert state.scan_capacitance() == {"raw": [], "calibrated": []}
    assert state.bulk_capacitance() == []
    assert state.group_capacitance() == {"raw": [], "calibrated": []}
    assert state.active_capacitance() == 0.0 and type(state.active_capacitance()) is float
    assert state.temperatures() == []
    assert state.hv_supply_voltage() == 0.0
    assert state.device_info() == {"connected": False, "serial_number": "", "software_version": ""}
    assert state.scan_gains() == [False] * 128
    assert state.electrode_pins() == {
        "drive_groups": [{"pins": [False] * 128, "duty_cycle": 0}] * 2,
        "scan_groups": [{"pins": [False] * 128, "setting": 0}] * 5,
    }


def test_state_answers_have_the_shapes_pdclient_expects():
    state = DeviceState()
    state.update(Event(scan(T0, 1.5)))
    state.update(Event(pins(7)))
    state.update(Event(hv(T0, 210.5)))
    result = state.scan_capacitance()
    assert set(result) == {"raw", "calibrated"}
    assert len(result["raw"]) == len(result["calibrated"]) == 128
    assert result["calibrated"][2] == 3.5 and result["raw"][2] == 1502 and type(result["raw"][2]) is int
    assert state.bulk_capacitance() == result["calibrated"]
    answer = state.electrode_pins()
    drive = answer["drive_groups"]
    assert len(drive) == 2 and len(answer["scan_groups"]) == 5
    assert drive[0]["pins"].index(True) == 7 and drive[0]["duty_cycle"] == 200
    assert all(type(e) is bool for e in drive[0]["pins"]) and len(drive[1]["pins"]) == 128
    assert state.hv_supply_voltage() == 210.5
    json.dumps([result, answer])


def test_an_old_log_electrodes_vector_is_drive_group_zero():
    old = pb.PurpleDropEvent(electrode_state=pb.ElectrodeState(electrodes=[i == 9 for i in range(128)]))
    state = DeviceState()
    state.update(Event(old.SerializeToString()))
    drive = state.electrode_pins()["drive_groups"]
    assert drive[0]["pins"].index(True) == 9 and drive[1]["pins"] == [False] * 128


@pytest.fixture(scope="module")
def long_log(tmp_path_factory: pytest.TempPathFactory):
    """Five minutes: a scan every second, a drop move at 10 s, then none for minutes."""
    path = tmp_path_factory.mktemp("replay") / "long.bin"
    with open_writer(path) as writer:
        writer.write(hv(T0))
        writer.write(pins(1))
        for second in range(300):
            writer.write(scan(T0 + second * S, float(second)))
            if second == 10:
                writer.write(pins(42))
    return path


def test_state_after_a_seek_is_the_log_at_that_moment_even_minutes_old(long_log):
    with open_log(long_log) as log:
        state = state_at(log, 250.5)
    assert driven(state) == 42
    assert state.scan_capacitance()["calibrated"][0] == 250.0
    assert state.hv_supply_voltage() == 200.0
    with open_log(long_log) as log:
        assert driven(state_at(log, 5.0)) == 1


def driven(state: DeviceState) -> int:
    return state.electrode_pins()["drive_groups"][0]["pins"].index(True)


class CountingLog:
    """A real log that counts the reads it is asked for."""

    def __init__(self, log) -> None:
        self.log = log
        self.reads = 0
        self.has_index = log.has_index

    def events(self, *args, **kwargs):
        self.reads += 1
        return self.log.events(*args, **kwargs)


def test_an_electrode_state_driving_nothing_answers_128_false_pins():
    state = DeviceState()
    state.update(Event(pb.PurpleDropEvent(electrode_state=pb.ElectrodeState()).SerializeToString()))
    assert all(group["pins"] == [False] * 128 for group in state.electrode_pins()["drive_groups"])


def test_without_an_index_the_state_comes_from_a_single_forward_pass(long_log):
    """No temperatures in this log: growing look-back windows would re-scan the file again and again."""
    with open_log(long_log) as log:
        assert log.sidecar is None
        counting = CountingLog(log)
        state = state_at(counting, 250.5)  # type: ignore[arg-type]
    assert counting.reads == 1
    assert driven(state) == 42 and state.temperatures() == []


# --- JSON-RPC ------------------------------------------------------------------


def add(a: int, b: int) -> int:
    """Add two numbers."""
    if not isinstance(a, int):
        raise ValueError("a must be an integer")
    return a + b


def handle(dispatcher: Dispatcher, body: bytes | str) -> bytes | None:
    return asyncio.run(dispatcher.handle(body))


def call(dispatcher: Dispatcher, body: object) -> dict:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = handle(dispatcher, raw)
    assert answer is not None
    return json.loads(answer)


def error_code(answer: dict) -> int:
    return answer["error"]["code"]


def test_a_call_with_positional_or_named_params_answers_its_result():
    rpc = Dispatcher({"add": add})
    assert call(rpc, {"jsonrpc": "2.0", "method": "add", "params": [1, 2], "id": 7}) == {
        "jsonrpc": "2.0",
        "result": 3,
        "id": 7,
    }
    assert call(rpc, {"jsonrpc": "2.0", "method": "add", "params": {"a": 1, "b": 5}, "id": "x"})["result"] == 6


def test_bad_requests_get_json_rpc_errors_not_exceptions():
    rpc = Dispatcher({"add": add})
    assert error_code(call(rpc, b"{not json")) == PARSE_ERROR
    assert error_code(call(rpc, b"\xff\xfe")) == PARSE_ERROR
    assert error_code(call(rpc, [1])[0]) == INVALID_REQUEST
    assert error_code(call(rpc, [])) == INVALID_REQUEST
    assert error_code(call(rpc, {"method": "add", "params": [1, 2], "id": 1})) == INVALID_REQUEST
    assert error_code(call(rpc, {"jsonrpc": "2.0", "method": 5, "id": 1})) == INVALID_REQUEST
    assert error_code(call(rpc, {"jsonrpc": "2.0", "method": "add", "params": 3, "id": 1})) == INVALID_REQUEST
    assert error_code(call(rpc, {"jsonrpc": "2.0", "method": "nope", "id": 1})) == METHOD_NOT_FOUND
    assert error_code(call(rpc, {"jsonrpc": "2.0", "method": "add", "params": [1], "id": 1})) == INVALID_PARAMS
    answer = call(rpc, {"jsonrpc": "2.0", "method": "add", "params": ["1", 2], "id": 1})
    assert error_code(answer) == INVALID_PARAMS and "a must be an integer" in answer["error"]["message"]


def test_device_changing_methods_answer_that_the_replay_is_read_only():
    rpc = Dispatcher({"add": add})
    for method in ("set_electrode_pins", "move_drops", "set_parameter"):
        answer = call(rpc, {"jsonrpc": "2.0", "method": method, "params": [[1, 2]], "id": 1})
        assert error_code(answer) == READ_ONLY and "read-only" in answer["error"]["message"]


def test_batches_and_notifications():
    rpc = Dispatcher({"add": add})
    batch = [
        {"jsonrpc": "2.0", "method": "add", "params": [1, 1], "id": 1},
        {"jsonrpc": "2.0", "method": "add", "params": [2, 2]},
        {"jsonrpc": "2.0", "method": "nope", "id": 2},
    ]
    answers = call(rpc, batch)
    assert [a.get("result") for a in answers] == [2, None] and error_code(answers[1]) == METHOD_NOT_FOUND
    assert handle(rpc, json.dumps({"jsonrpc": "2.0", "method": "add", "params": [1, 1]})) is None
    assert error_code(call(rpc, [{"foo": "boo"}])[0]) == INVALID_REQUEST  # not a notification: answered


def test_the_method_map_lists_params_and_descriptions():
    assert Dispatcher({"add": add}).describe()["methods"] == {
        "add": {"params": ["a", "b"], "description": "Add two numbers."}
    }


def test_a_method_that_crashes_answers_an_internal_error():
    def broken() -> None:
        raise RuntimeError("boom")

    def buggy() -> None:
        return None + 1  # type: ignore[operator]  # a bug in the method, not in the caller's params

    rpc = Dispatcher({"broken": broken, "buggy": buggy})
    answer = call(rpc, {"jsonrpc": "2.0", "method": "broken", "id": 1})
    assert error_code(answer) == -32603 and "boom" in answer["error"]["message"]
    assert error_code(call(rpc, {"jsonrpc": "2.0", "method": "buggy", "id": 2})) == -32603


def test_deeply_nested_json_is_a_parse_error_not_a_crash():
    rpc = Dispatcher({"add": add})
    assert error_code(call(rpc, b"[" * 100_000)) == PARSE_ERROR
    assert error_code(call(rpc, b'{"a":' * 100_000)) == PARSE_ERROR


def test_results_are_strict_json_with_nan_and_infinities_as_null():
    def odd() -> list[float]:
        """Numbers JSON cannot hold."""
        return [float("nan"), float("inf"), -float("inf"), 1.5]

    answer = handle(Dispatcher({"odd": odd}), b'{"jsonrpc":"2.0","method":"odd","id":1}')
    assert answer is not None
    assert json.loads(answer, parse_constant=lambda c: pytest.fail(f"{c} in {answer!r}"))["result"] == [
        None,
        None,
        None,
        1.5,
    ]


def test_numbers_too_large_for_a_float_are_invalid_params():
    def seek(seconds: float) -> float:
        """Like playback_seek: the number becomes a float."""
        return float(seconds)

    rpc = Dispatcher({"seek": seek})
    assert error_code(call(rpc, b'{"jsonrpc":"2.0","method":"seek","params":[1' + b"0" * 400 + b'],"id":1}')) == (
        INVALID_PARAMS
    )


def test_an_unknown_method_answers_method_not_found_as_the_gateway_does():
    answer = call(Dispatcher({"add": add}), {"jsonrpc": "2.0", "method": "get_nothing", "id": 3})
    assert answer["error"]["code"] == METHOD_NOT_FOUND and answer["error"]["message"] == "Method not found"


def test_a_log_that_cannot_be_read_is_a_server_error_not_invalid_params():
    def read() -> None:
        """Like a state method over a corrupt log."""
        raise LogFormatError("chunk checksum mismatch", path="run.pdlz", offset=4096)

    answer = call(Dispatcher({"read": read}), {"jsonrpc": "2.0", "method": "read", "id": 1})
    assert answer["error"]["code"] == REPLAY_ERROR and "byte 4096" in answer["error"]["message"]


def test_coroutine_methods_are_awaited_and_batches_are_bounded():
    async def later(x: int) -> int:
        """Answer after yielding once."""
        await asyncio.sleep(0)
        return x * 2

    rpc = Dispatcher({"later": later}, max_batch=3)
    assert call(rpc, {"jsonrpc": "2.0", "method": "later", "params": [21], "id": 1})["result"] == 42
    batch = [{"jsonrpc": "2.0", "method": "later", "params": [k], "id": k} for k in range(4)]
    assert error_code(call(rpc, batch)) == INVALID_REQUEST
    assert [a["result"] for a in call(rpc, batch[:3])] == [0, 2, 4]
