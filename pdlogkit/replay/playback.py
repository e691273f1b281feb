"""The playback engine: one timeline over a log, sending each event to websocket clients when due.

Runs on an asyncio loop. Events come from a `ReadAhead` (a thread reading the log
into a bounded buffer), each is sent at `Schedule.due(position)` (a fixed anchor, so
errors never add up), and the device state follows every event played. `Source`
says what is read; the connections are the `clients` module's.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import PdlogkitError
from ..events import KINDS, Event, check_kinds
from ..log import Log
from ..timeline import CLOCK_STEP_NS, event_time_ns
from .readahead import ReadAhead
from .schedule import Schedule, check_speed, positions
from .state import FRAME_KIND, STATE_KINDS, DeviceState, state_at

#: Waits end this long before an event is due; the rest is spent yielding to the loop,
#: because the selector's timeout granularity (1 ms, rounded up) would make sends late.
SPIN = 0.0015
#: How often a playback at speed 0 looks for a client when it has none.
IDLE_POLL = 0.05
#: Lateness samples kept for `stats` (a bounded window: memory stays flat).
LATENESS_SAMPLES = 1 << 17


@dataclass
class ReplayStats:
    """Counters of a replay server, and a bounded window of send lateness samples (s)."""

    events_sent: int = 0
    bytes_sent: int = 0
    clients_served: int = 0
    slow_clients_dropped: int = 0
    loops: int = 0
    lateness: deque[float] = field(default_factory=lambda: deque(maxlen=LATENESS_SAMPLES))


@dataclass
class Cursor:
    """A position in the log, ready to play: its events, the first one read, and the state there."""

    items: Generator[tuple[int, Event], None, None]
    head: list[tuple[int, Event]]
    state: DeviceState
    position_ns: int
    reader: Log


def check_window(start: float, end: float | None) -> None:
    """A valid playback window (s on the playback timeline) or ValueError."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"{name} must be a number of seconds, not {value!r}")
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number of seconds, not {value}")
    if start < 0 or (end is not None and end <= start):
        raise ValueError(f"the window must have 0 <= start < end, not start={start:g}, end={end:g}")


class Source:
    """What a playback reads: the log, its time origin, the window and the kinds to read and send.

    Positions are on the playback timeline: ns from the first timed event in log order,
    with steps back of the clock absorbed (`PlaybackClock`). The window, seeks and the
    duration are measured in positions. Every cursor reads through its own handle on the
    log, so reads never wait on a lock the event loop needs.
    """

    def __init__(
        self, log: Log, start: float, end: float | None, kinds: Iterable[str] | None, exclude: Iterable[str] | None
    ) -> None:
        self.log = log
        chosen = check_kinds(kinds, "kinds")
        excluded = check_kinds(exclude, "exclude") or frozenset()
        if chosen is None and not excluded:
            self.send_kinds: frozenset[str] | None = None
            self.read_kinds: frozenset[str] | None = None
        else:
            self.send_kinds = (chosen if chosen is not None else frozenset(KINDS)) - excluded
            self.read_kinds = self.send_kinds | STATE_KINDS
        # The frame shown last is followed only when frames are sent (a viewer shows what the clients saw).
        sent_frames = self.send_kinds is None or FRAME_KIND in self.send_kinds
        self.state_kinds = STATE_KINDS | {FRAME_KIND} if sent_frames else STATE_KINDS
        check_window(start, end)
        summary = log.summary()
        events = log.events()
        try:
            first = next((t for t in map(event_time_ns, events) if t is not None), None)
        finally:
            getattr(events, "close", lambda: None)()
        self.origin_ns = first if first is not None else 0  # position 0: the first timed event in log order
        # Seconds from the log's earliest time (what `Log.events` windows count from) to the origin.
        earliest = summary.start_ns
        self.offset = (first - earliest) / 1e9 if first is not None and earliest is not None else 0.0
        # A time earlier than the origin by more than a clock step: positions are no longer log
        # time minus origin, so seeks and the duration come from a forward pass instead of windows.
        self.stepped = first is not None and summary.start_ns is not None and summary.start_ns < first - CLOCK_STEP_NS
        if self.stepped:
            last = max((pos for pos, _ in positions(log.events(), self.origin_ns)), default=0)
            self.duration = last / 1e9
        elif first is not None and summary.end_ns is not None:
            self.duration = max(0.0, (summary.end_ns - first) / 1e9)
        else:
            self.duration = 0.0
        self.start = float(start)
        self.end = None if end is None else float(end)
        self.start_ns = round(self.start * 1e9)
        self.end_ns = round((self.end if self.end is not None else max(self.duration, self.start)) * 1e9)
        #: Every read-ahead started (those whose thread still runs), so stopping can wait for them.
        self.feeds: set[ReadAhead] = set()

    def read_ahead(self, seconds: float) -> ReadAhead:
        """Start reading from position `seconds` in a thread of its own (call on the event loop)."""
        feed = ReadAhead(self, seconds)
        self.feeds.add(feed)
        feed.ready.add_done_callback(lambda _: self._forget_dead())
        return feed

    def _forget_dead(self) -> None:
        self.feeds = {feed for feed in self.feeds if feed.alive}

    def clamp(self, seconds: object) -> float:
        """A seek target in seconds from the log start, clamped into the window."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds != seconds:
            raise ValueError(f"seconds must be a number, not {seconds!r}")
        try:
            target = float(seconds)
        except OverflowError:
            raise ValueError(f"seconds out of range: {seconds!r}") from None
        return min(max(target, self.start), self.end_ns / 1e9)

    def _reader(self) -> Log:
        """A log handle of the cursor's own (the log is opened again by path, as leniently as it was)."""
        return self.log.reopen()

    def prepare(self, seconds: float) -> Cursor:
        """Open the log at position `seconds` (blocking I/O: call it off the event loop)."""
        reader = self._reader()
        try:
            return self._prepare(reader, seconds)
        except BaseException:
            reader.close()
            raise

    def _prepare(self, reader: Log, seconds: float) -> Cursor:
        at_ns = round(seconds * 1e9)
        if self.stepped:  # one forward pass from the start, keeping the state, up to the position
            items = positions(reader.events(kinds=self.read_kinds), self.origin_ns)
            state = DeviceState()
            head: list[tuple[int, Event]] = []
            for pos, event in items:
                if pos >= at_ns:
                    head.append((pos, event))
                    break
                state.update(event)
            return Cursor(items, head, state, at_ns, reader)
        if seconds <= 0:  # from the very start: untimed events before the first time are kept
            events = reader.events(kinds=self.read_kinds)
            state = DeviceState()
        else:
            events = reader.events(kinds=self.read_kinds, start=self.offset + seconds)
            state = state_at(reader, self.offset + seconds, self.state_kinds)
        items = positions(events, self.origin_ns, at_ns)
        return Cursor(items, list(itertools.islice(items, 1)), state, at_ns, reader)

    def close(self, cursor: Cursor) -> None:
        """Let go of what a cursor holds open."""
        cursor.items.close()
        cursor.reader.close()


class Sink(Protocol):
    """Where a playback sends: the connections of its timeline (`clients.Timeline`)."""

    def connections(self) -> list[Any]:
        """The connections events go to now."""
        ...

    def send(self, payload: bytes) -> int:
        """Send to every connection with room; return how many got it."""
        ...

    async def drained(self) -> None:
        """Wait until the connections have taken most of what was sent (speed 0 backpressure)."""
        ...


class Playback:
    """One timeline over the log: takes events from its read-ahead, sends each when due, keeps the state.

    Runs on the event loop; control calls (`install` a seek, `set_playing`, `set_speed`)
    are made on the loop thread too.
    """

    def __init__(
        self,
        source: Source,
        sink: Sink,
        stats: ReplayStats,
        *,
        speed: float,
        playing: bool,
        waiting: bool,
        loop: bool,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.source = source
        self.on_error = on_error
        self.error: str | None = None  # why the playback ended early (a log that cannot be read)
        self.sink = sink
        self.stats = stats
        self.schedule = Schedule(speed)
        self.playing = playing
        self.waiting = waiting  # broadcast: not started until the first client connects
        self.loop = loop
        self.finished = False
        self.state = DeviceState()
        self._feed: ReadAhead | None = None
        self._next: tuple[int, Event] | None = None  # taken from the feed, not sent yet
        self._frozen = source.start_ns  # position while not running
        self._last_pos = source.start_ns
        self._wake: asyncio.Future[None] | None = None

    @property
    def running(self) -> bool:
        return self.playing and not self.waiting and not self.finished and self._feed is not None

    def position_ns(self) -> int:
        """Where the playback is, in ns from the log start."""
        if not self.running:
            return self._frozen
        if self.schedule.speed == 0:
            return self._last_pos
        return min(max(self.schedule.position(time.monotonic()), self._last_pos), self.source.end_ns)

    def _change(self, apply: Callable[[], None]) -> None:
        """Apply a control change, freezing or re-anchoring the schedule around it."""
        was = self.running
        if was:
            self._frozen = self.position_ns()
        apply()
        if self.running and not was:
            self.schedule.start(time.monotonic(), self._frozen)
        self._poke()

    def install(self, feed: ReadAhead) -> None:
        """Continue from a read-ahead whose position is found (`feed.ready` done): a seek, or the start."""

        def apply() -> None:
            if self._feed is not None:
                self._feed.close()
            self._feed = feed
            feed.on_data = self._poke
            self._next = None
            self.state = feed.state
            self.finished = False
            self._frozen = self._last_pos = feed.position_ns

        was = self.running
        self._change(apply)
        if was and self.running:
            self.schedule.start(time.monotonic(), feed.position_ns)

    def begin(self) -> None:
        """End the wait for the first client."""
        self._change(lambda: setattr(self, "waiting", False))

    def set_playing(self, playing: bool, feed: ReadAhead | None = None) -> None:
        """Pause or resume; resuming a finished playback starts over from `feed` (a read-ahead at the start)."""
        if playing and self.finished and feed is not None:
            self.install(feed)
            self.error = None
        elif feed is not None:
            feed.close()
        self._change(lambda: setattr(self, "playing", playing))

    def set_speed(self, speed: float) -> None:
        check_speed(speed)
        if self.running:
            self.schedule.set_speed(speed, time.monotonic(), self.position_ns())
        else:
            self.schedule.speed = float(speed)
        self._poke()

    def stop(self) -> None:
        if self._feed is not None:
            self._feed.close()
            self._feed = None

    def _poke(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def _sleep(self, delay: float | None) -> None:
        """Sleep `delay` seconds (None: until poked); a control change or new data ends it early."""
        loop = asyncio.get_running_loop()
        self._wake = loop.create_future()
        handle = loop.call_later(delay, _resolve, self._wake) if delay is not None else None
        try:
            await self._wake
        finally:
            if handle is not None:
                handle.cancel()
            self._wake = None

    async def run(self) -> None:
        """Play until cancelled. A log that cannot be read finishes the playback with `error` set."""
        while True:
            try:
                await self._run()
            except PdlogkitError as exc:
                self.error = str(exc)
                self._change(lambda: setattr(self, "finished", True))
                if self.on_error is not None:
                    self.on_error(self.error)

    async def _run(self) -> None:
        while True:
            feed = self._feed
            if not self.running or feed is None:
                await self._sleep(None)
                continue
            item = self._next
            if item is None:
                item = feed.take()
                if item is None:
                    if feed.finished:
                        await self._at_end()
                    else:
                        await self._sleep(None)  # the read-ahead pokes when events come
                    continue
                self._next = item
            pos, event = item
            if pos > self.source.end_ns:
                self._next = None
                await self._at_end()
                continue
            due = self.schedule.due(pos)
            wait = due - time.monotonic()
            if wait > SPIN:
                await self._sleep(wait - SPIN)
                continue
            if wait > 0:
                await asyncio.sleep(0)
                continue
            if self.schedule.speed == 0:
                if not self.sink.connections():  # nobody takes anything: don't race through the log
                    await self._sleep(IDLE_POLL)
                    continue
                await self.sink.drained()
                if not self.running or self._next is not item:
                    continue
            self._next = None
            self._play(pos, event, due)
            if self.schedule.speed == 0:
                await asyncio.sleep(0)

    def _play(self, pos: int, event: Event, due: float) -> None:
        self._last_pos = pos
        self.state.update(event)
        kinds = self.source.send_kinds
        if kinds is not None and event.kind not in kinds:
            return
        lateness = time.monotonic() - due
        if self.sink.send(event.payload):
            stats = self.stats
            stats.events_sent += 1
            stats.bytes_sent += len(event.payload)
            if due != float("-inf"):
                stats.lateness.append(lateness)

    async def _at_end(self) -> None:
        end = self.source.end_ns
        if not self.loop:
            self._change(lambda: setattr(self, "finished", True))
            self._frozen = self._last_pos = end
            return
        due_end = self.schedule.due(end)
        before = self._feed
        feed = self.source.read_ahead(self.source.start)
        try:
            await feed.ready
        except BaseException:
            feed.close()
            raise
        if self._feed is not before:  # a seek came in meanwhile: it wins
            feed.close()
            return
        self.stats.loops += 1
        self.install(feed)
        if self.running:
            self.schedule.start(max(time.monotonic(), due_end), feed.position_ns)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
