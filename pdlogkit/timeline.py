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
