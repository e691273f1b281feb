"""Playback timing, pure: where each event sits on the playback timeline and when it is due.

Positions are ns from the log's start on the playback timeline (`PlaybackClock` keeps
them monotonic). A `Schedule` maps positions to due times on a monotonic clock from a
fixed anchor, so the error of one wait never carries into the next one: sleeping the
delta between events instead would drift by the sum of all wake-up delays.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable

from ..events import Event
from ..timeline import PlaybackClock, event_time_ns


def positions(events: Iterable[Event], origin_ns: int, at_ns: int = 0) -> Generator[tuple[int, Event], None, None]:
    """Pair events with their playback position in ns from the log start.

    `origin_ns` is the log time of the log's start, `at_ns` the position the events
    start from (a seek point). An event without a time follows its predecessor; a
    step back in time is held or absorbed, never replayed as a stall or a jump.
    """
    clock = PlaybackClock()
    clock(origin_ns + at_ns)  # schedule 0 is the seek point, even if the first event comes later
    for event in events:
        yield at_ns + clock(event_time_ns(event)), event


class Schedule:
    """Anchor-based schedule: position p is due at `anchor + (p - anchor_pos) / speed`.

    The anchor moves only on a seek, a resume or a speed change; speed 0 means "as
    fast as possible" (everything is due now).
    """

    def __init__(self, speed: float = 1.0) -> None:
        check_speed(speed)
        self.speed = speed
        self.anchor = 0.0  # monotonic seconds at which `anchor_pos` is due
        self.anchor_pos = 0  # ns from the log start

    def start(self, now: float, position_ns: int) -> None:
        """Anchor position `position_ns` at monotonic time `now`."""
        self.anchor, self.anchor_pos = now, position_ns

    def due(self, position_ns: int) -> float:
        """Monotonic time (s) at which the event at `position_ns` must be sent."""
        if self.speed == 0:
            return float("-inf")
        return self.anchor + (position_ns - self.anchor_pos) / 1e9 / self.speed

    def position(self, now: float) -> int:
        """Position (ns) the playback has reached at monotonic time `now`."""
        if self.speed == 0:
            return self.anchor_pos
        return self.anchor_pos + max(0, round((now - self.anchor) * self.speed * 1e9))

    def set_speed(self, speed: float, now: float, position_ns: int) -> None:
        """Change speed from `position_ns` on, re-anchored at `now`."""
        check_speed(speed)
        self.speed = speed
        self.start(now, position_ns)


#: The fastest speed factor accepted (faster than this is "as fast as possible": speed 0).
MAX_SPEED = 1e6
#: The slowest speed factor accepted besides 0 (a second of the log in about 17 minutes).
MIN_SPEED = 1e-3


def check_speed(speed: object) -> float:
    """A valid speed factor (0, or a number from MIN_SPEED to MAX_SPEED) or ValueError."""
    if (
        isinstance(speed, bool)
        or not isinstance(speed, int | float)
        or not (speed == 0 or MIN_SPEED <= speed <= MAX_SPEED)
    ):
        raise ValueError(
            f"speed must be 0 (as fast as possible) or a number from {MIN_SPEED:g} to {MAX_SPEED:g}, "
            f"not {str(speed)[:40]}"
        )
    return float(speed)
