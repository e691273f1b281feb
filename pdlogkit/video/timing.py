"""Where frames go on the video's time line (pure): each at its own timestamp, or resampled to a constant rate.

Every frame is presented at its `Image.timestamp` relative to the first frame in
range, in a 1/90000 s time base, so a camera stall stays a stall and the video's
clock follows the log's.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable, Generator, Iterable
from fractions import Fraction
from typing import TypeVar

from ..timeline import CLOCK_STEP_NS

#: Presentation times are in this time base (the MPEG clock): exact to 11 microseconds.
TIME_BASE = Fraction(1, 90_000)
TICKS_PER_S = TIME_BASE.denominator

#: The last frame lasts the median of up to this many recent frame intervals.
INTERVAL_WINDOW = 100

#: The last frame's duration when the video holds a single frame.
SINGLE_FRAME_S = 0.1

T = TypeVar("T")


class FrameClock:
    """Places frames on the video's time line (ticks of `TIME_BASE` from the first frame).

    `place` says where a frame at log time `t_ns` goes, or None when it is out of
    order; `accept` commits it (only frames that made it into the video count).
    """

    def __init__(self) -> None:
        self._origin: int | None = None  # log time at tick 0
        self._last_t: int | None = None
        self._last_tick = -1
        self._intervals: deque[int] = deque(maxlen=INTERVAL_WINDOW)
        self.clock_steps = 0
        #: The log time of the first frame (tick 0).
        self.first_ns: int | None = None

    def place(self, t_ns: int) -> int | None:
        """The tick of a frame at `t_ns`, or None if it is not after the previous frame."""
        if self._origin is None:
            return 0
        assert self._last_t is not None
        if t_ns < self._last_t - CLOCK_STEP_NS:
            return self._last_tick + self.interval
        tick = ticks(t_ns - self._origin)
        return tick if tick > self._last_tick else None

    def accept(self, t_ns: int, tick: int) -> None:
        """Commit a frame placed at `tick`."""
        if self._origin is None:
            self._origin = self.first_ns = t_ns
        elif ticks(t_ns - self._origin) != tick:  # a clock step: move the origin with it
            self.clock_steps += 1
            self._origin = t_ns - tick * 1_000_000_000 // TICKS_PER_S
        if self._last_tick >= 0:
            self._intervals.append(tick - self._last_tick)
        self._last_t = t_ns
        self._last_tick = tick

    @property
    def interval(self) -> int:
        """The typical frame interval in ticks: the median of recent ones."""
        if not self._intervals:
            return round(SINGLE_FRAME_S * TICKS_PER_S)
        return max(1, round(statistics.median(self._intervals)))


def ticks(ns: int) -> int:
    """Nanoseconds in ticks of `TIME_BASE`, rounded to the nearest."""
    return (ns * TICKS_PER_S + 500_000_000) // 1_000_000_000


def schedule(
    frames: Iterable[tuple[int, T]], last_duration: Callable[[], int]
) -> Generator[tuple[T, int, int], None, None]:
    """(item, pts, duration) in ticks for frames at increasing ticks: each lasts until the next.

    The last frame lasts `last_duration()` ticks (asked once the frames run out).
    """
    previous: tuple[int, T] | None = None
    for tick, item in frames:
        if previous is not None:
            yield previous[1], previous[0], tick - previous[0]
        previous = (tick, item)
    if previous is not None:
        yield previous[1], previous[0], last_duration()


def resample(timed: Iterable[tuple[T, int, int]], rate: Fraction) -> Generator[tuple[T, int, int], None, None]:
    """Constant-rate (item, pts, 1) in frame periods of `rate`: each slot shows the frame on screen at its start."""
    slot = 0
    for item, pts, duration in timed:
        end = pts + duration
        # Slot k starts at k / rate seconds = k * 90000 / rate ticks; it shows this frame if it starts before `end`.
        while slot * TICKS_PER_S < end * rate:
            yield item, slot, 1
            slot += 1
