"""Time on a log's clock, and a monotonic schedule for playing it back.

A log's clock is the receive time where the log holds one (indexed container,
live recorder), else the embedded timestamp. Several kinds carry no timestamp
(electrode_state, device_info), so an event without one takes the time of the
event before it. Gateway timestamps are only roughly ordered across kinds and
the host clock may step: `PlaybackClock` turns them into a schedule that never
goes backwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .events import Event

#: A step back larger than this is a clock step, not jitter between kinds.
CLOCK_STEP_NS = 1_000_000_000


def event_time_ns(event: Event) -> int | None:
    """The event's own time on the log's clock: receive time if held, else its timestamp."""
    return event.received_ns if event.received_ns is not None else event.time_ns


def log_clock(events: Iterable[Event], start_ns: int | None = None) -> Iterator[tuple[int | None, Event]]:
    """Pair each event with its time on the log's clock in Unix ns, carrying the last time forward.

    Events before the first time get `start_ns` (None if not given).
    """
    last = start_ns
    for event in events:
        t = event_time_ns(event)
        if t is not None:
            last = t
        yield last, event


#: Events without a time held back at most, waiting for a log's first timestamp (see `first_time_back`).
LEADING_HELD = 10_000


def first_time_back(
    timed: Iterable[tuple[int | None, Event]], held: int = LEADING_HELD
) -> Iterator[tuple[int | None, Event]]:
    """`timed` with the events before its first time given that first time, as a log's clock gives them.

    For a stream, where the first time is not known ahead: up to `held` such events are held back
    until it comes (more keep None).
    """
    waiting: list[Event] = []
    iterator = iter(timed)
    for t, event in iterator:
        if t is None and len(waiting) < held:
            waiting.append(event)
            continue
        for early in waiting:
            yield t, early
        waiting = []
        yield t, event
        break
    for early in waiting:  # the stream ended without any time
        yield None, early
    yield from iterator


class PlaybackClock:
    """Maps log times to a monotonic schedule in ns from the first event.

    Small steps back (jitter between kinds) are held at the latest time; a step back
    larger than `step_ns` is a clock step and the schedule continues from where it
    was; forward gaps are kept, they are real idle stretches. Feed times in log order.
    """

    def __init__(self, step_ns: int = CLOCK_STEP_NS) -> None:
        self._step = step_ns
        self._origin: int | None = None  # log time that maps to schedule 0
        self._latest = 0  # latest schedule time handed out
        self.steps_back = 0  # clock steps seen

    def __call__(self, t_ns: int | None) -> int:
        """Schedule time (ns from the first timed event) for an event at log time `t_ns`."""
        if t_ns is None:
            return self._latest
        if self._origin is None:
            self._origin = t_ns
        at = t_ns - self._origin
        if at < self._latest - self._step:
            self.steps_back += 1
            self._origin = t_ns - self._latest
            at = self._latest
        if at > self._latest:
            self._latest = at
        return self._latest
