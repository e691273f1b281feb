"""The activity detector and gate on their own: events at times of a fake clock, no I/O."""

from __future__ import annotations

import pytest

from pdlogkit import schema as pb
from pdlogkit.activity import ActivityDetector, ActivityGate, ItemKind, find_windows
from pdlogkit.events import Event
from pdlogkit.markers import Marker

S = 1_000_000_000  # one second in ns
T0 = 1_767_225_600 * S


def state(*driven: int, setting: int = 200) -> bytes:
    pins = [i in driven for i in range(128)]
    return pb.PurpleDropEvent(
        electrode_state=pb.ElectrodeState(
            drive_groups=[pb.ElectrodeGroup(electrodes=pins, setting=setting), pb.ElectrodeGroup()]
        )
    ).SerializeToString()


def sensor(n: int) -> bytes:
    return pb.PurpleDropEvent(
        active_capacitance=pb.ActiveCapacitance(timestamp=pb.Timestamp(seconds=n), calibrated=float(n))
    ).SerializeToString()


def transform(n: int) -> bytes:
    return pb.PurpleDropEvent(
        image_transform=pb.ImageTransform(timestamp=pb.Timestamp(seconds=n), image_width=n)
    ).SerializeToString()


def image(n: int) -> bytes:
    return pb.PurpleDropEvent(
        image=pb.Image(timestamp=pb.Timestamp(seconds=n), image_data=b"\xff\xd8" + bytes(100) + b"\xff\xd9")
    ).SerializeToString()


def at(seconds: float) -> int:
    return T0 + round(seconds * S)


def run(gate: ActivityGate, stream: list[tuple[int, bytes]]) -> list:
    items = []
    for t, payload in stream:
        gate.feed(t, payload)
        items += gate.take()
    gate.finish()
    return items + gate.take()


def camera_and_sensors(seconds: float, moves: dict[float, int]) -> list[tuple[int, bytes]]:
    """A frame (transform + image 1 ms later) every 0.1 s, a sensor event every 0.05 s, moves at given times."""
    stream = [(at(0), state(0))]
    ticks = round(seconds * 20)
    for k in range(ticks):
        t = k * 0.05
        for when, electrode in moves.items():
            if t <= when < t + 0.05:
                stream.append((at(when), state(electrode)))
        stream.append((at(t), sensor(k)))
        if k % 2 == 0:
            stream.append((at(t), transform(k)))
            stream.append((at(t + 0.001), image(k)))
    return sorted(stream, key=lambda pair: pair[0])


def test_an_electrode_move_is_activity_and_the_first_state_only_sets_the_baseline():
    detect = ActivityDetector()
    assert not detect(Event(state(3), received_ns=at(0)))  # nothing to compare with
    assert not detect(Event(state(3), received_ns=at(1)))  # the same electrodes driven
    assert not detect(Event(state(3, setting=90), received_ns=at(2)))  # a duty cycle change moves nothing
    assert detect(Event(state(4), received_ns=at(3)))
    assert detect.switched == {3, 4}
    assert not detect(Event(sensor(1), received_ns=at(4)))


def test_activity_can_be_kinds_or_any_predicate():
    by_kind = ActivityDetector(["active_capacitance"])
    assert by_kind(Event(sensor(1))) and not by_kind(Event(state(1)))
    big = ActivityDetector(lambda e: e.kind == "active_capacitance" and e.message.active_capacitance.calibrated > 5)
    assert not big(Event(sensor(1))) and big(Event(sensor(9)))
    with pytest.raises(ValueError, match="unknown event kind.*imgae"):
        ActivityDetector(["imgae"])


def test_frames_are_kept_exactly_from_pre_roll_before_the_first_move_to_post_roll_after_the_last():
    stream = camera_and_sensors(12.0, {4.02: 1, 5.02: 2})  # two moves, 1 s apart: one window
    gate = ActivityGate(pre_roll=1.0, post_roll=2.0, scope="camera")
    items = run(gate, stream)
    [window] = gate.windows
    assert (window.start_ns, window.end_ns) == (at(3.02), at(7.02))
    assert window.activities == 2 and window.electrodes == {0, 1, 2}
    events = [i for i in items if i.kind is ItemKind.EVENT]
    assert [(i.time_ns, i.payload) for i in events] == stream  # every event handed back, in the order fed
    for item in events:
        if item.event_kind in ("image", "image_transform"):
            # A frame is decided at its image_transform's time, and its image with it.
            frame_time = item.frame_ns if item.frame_ns is not None else item.time_ns
            assert item.keep == (at(3.02) <= frame_time <= at(7.02)), item
        else:
            assert item.keep  # every sensor event is kept
    kept_frames = sum(1 for i in events if i.keep and i.event_kind == "image")
    assert kept_frames == gate.counts.frames_kept == 40  # 3.1 .. 7.0 s at 10 frames/s
    assert gate.counts.frames_dropped == 120 - 40


def test_a_frame_at_the_very_edge_of_the_window_is_kept():
    stream = [(at(0), state(0)), (at(1), transform(1)), (at(1.001), image(1)), (at(2), state(1))]
    stream += [(at(3), transform(3)), (at(3.001), image(3)), (at(3.002), transform(4)), (at(3.003), image(4))]
    gate = ActivityGate(pre_roll=1.0, post_roll=1.0)
    items = run(gate, stream)
    kept = [i.payload for i in items if i.keep and i.event_kind == "image"]
    # pre-roll reaches the frame at exactly 1.0 s; post-roll the frame starting at exactly 3.0 s (its image
    # 1 ms later goes with it), not the one at 3.002 s.
    assert kept == [image(1), image(3)]


def test_windows_merge_when_a_move_comes_within_the_post_roll_or_its_pre_roll_reaches_back():
    moves = {2.0: 1, 3.5: 2, 6.0: 3, 15.0: 4}
    stream = camera_and_sensors(20.0, moves)
    windows = find_windows(((t, Event(p)) for t, p in stream), pre_roll=1.0, post_roll=2.0)
    # 3.5 is within 2 s of 2.0; 6.0 - 1 = 5.0 reaches 3.5 + 2 = 5.5; 15.0 stands alone.
    assert [(w.start_ns, w.end_ns) for w in windows] == [(at(1.0), at(8.0)), (at(14.0), at(17.0))]
    assert [w.activities for w in windows] == [3, 1]
    assert all(w.final for w in windows)


def test_scope_all_keeps_only_the_windows_and_says_when_each_ends():
    stream = camera_and_sensors(20.0, {3.0: 1, 12.0: 2})
    gate = ActivityGate(pre_roll=1.0, post_roll=1.0, scope="all")
    items = run(gate, stream)
    order = []
    for item in items:
        if item.kind is ItemKind.WINDOW_END:
            order.append(("end", item.window.number))
        elif item.keep:
            frame_time = item.frame_ns or item.time_ns  # an image goes with its image_transform
            assert item.window is not None and item.window.covers(frame_time)
            if not order or order[-1] != ("window", item.window.number):
                order.append(("window", item.window.number))
        else:
            assert not any(w.covers(item.time_ns) for w in gate.windows)
    assert order == [("window", 1), ("end", 1), ("window", 2), ("end", 2)]


def test_a_window_ends_once_no_later_move_can_reach_back_into_it():
    gate = ActivityGate(pre_roll=1.0, post_roll=2.0, scope="all")
    gate.feed(at(0), state(0))
    gate.feed(at(1), state(1))
    gate.advance(at(3.5))  # past the post-roll, but a move at 3.9 would still reach back to 2.9
    assert not gate.windows[0].final and gate.active(at(2.5))
    gate.advance(at(4.1))
    assert gate.windows[0].final
    assert [i.kind for i in gate.take()][-1] is ItemKind.WINDOW_END


def test_events_wait_at_most_the_pre_roll_and_the_byte_bound():
    gate = ActivityGate(pre_roll=2.0, post_roll=1.0, scope="camera")
    for k in range(30):
        gate.feed(at(k * 0.1), transform(k))
    assert gate.held_bytes > 0
    assert len(gate.take()) == 30 - 21  # frames older than 2 s are dropped; the last 2 s wait
    bounded = ActivityGate(pre_roll=60.0, post_roll=1.0, max_held_bytes=3 * len(image(1)))
    for k in range(1, 11):
        bounded.feed(at(k), image(k))
    assert bounded.held_bytes <= 3 * len(image(1))
    assert bounded.counts.frames_dropped == 7


def test_markers_are_kept_and_count_as_activity():
    gate = ActivityGate(pre_roll=1.0, post_roll=1.0, scope="all")
    gate.feed(at(0), sensor(0))
    gate.feed(at(5), sensor(5))
    gate.mark(Marker(at(5.5), "dispense", {"step": 3}))
    gate.feed(at(6), sensor(6))
    gate.feed(at(9), sensor(9))
    gate.finish()
    items = gate.take()
    assert [i.time_ns for i in items if i.keep] == [at(5), at(5.5), at(6)]
    marker = next(i for i in items if i.kind is ItemKind.MARKER)
    assert marker.marker.text == "dispense" and marker.window is gate.windows[0]


def test_bad_rolls_and_scopes_are_clear_errors():
    with pytest.raises(ValueError, match="pre_roll"):
        ActivityGate(pre_roll=float("inf"))
    with pytest.raises(ValueError, match="post_roll"):
        ActivityGate(post_roll=-1)
    with pytest.raises(ValueError, match="scope"):
        ActivityGate(scope="images")
