"""The playback clock: jitter held, clock steps absorbed, idle stretches kept."""

from __future__ import annotations

from pdlogkit.timeline import PlaybackClock

S = 1_000_000_000


def test_times_map_to_offsets_from_the_first_event():
    clock = PlaybackClock()
    assert [clock(t) for t in (100 * S, 100 * S + S // 2, 103 * S)] == [0, S // 2, 3 * S]


def test_small_steps_back_between_kinds_are_held_not_replayed():
    clock = PlaybackClock()
    assert [clock(t) for t in (10 * S, 10 * S - S // 100, 10 * S + S // 100)] == [0, 0, S // 100]


def test_a_clock_step_back_neither_stalls_nor_jumps():
    clock = PlaybackClock()
    schedule = [clock(t) for t in (1000 * S, 1001 * S, 50 * S, 51 * S)]
    assert schedule == [0, S, S, 2 * S]
    assert clock.steps_back == 1


def test_untimed_events_go_right_after_their_predecessor():
    clock = PlaybackClock()
    assert [clock(t) for t in (None, 5 * S, None, 7 * S)] == [0, 0, 0, 2 * S]


def test_idle_stretches_are_kept():
    clock = PlaybackClock()
    assert clock(0) == 0 and clock(600 * S) == 600 * S
