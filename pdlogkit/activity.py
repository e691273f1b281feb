"""Activity: which events mean something is happening, and what to keep around them (pure: no I/O, no clock).

In an experiment, short bursts of drop movement alternate with long idle stretches.
`ActivityDetector` tells which events are activity: by default an electrode_state
whose driven electrodes differ from the previous one (a drop was moved). `ActivityGate`
is fed events in the order they came, with their times, and hands back each one
decided, in the same order: kept or dropped, and the window of activity it belongs
to. A window runs from `pre_roll` seconds before an activity event to `post_roll`
seconds after the last one; overlapping windows merge. The same gate decides live
(the recorder's `frames="activity"` and its bursts of segments) and after the fact
(`pdlogkit activity`, `pdlogkit trim`), so a log trimmed afterwards holds exactly
what the live mode would have kept from the same stream.

Events before an activity wait in the gate until they are decided, at most
`pre_roll` seconds (and `max_held_bytes`): the gate never reorders anything.

    gate = ActivityGate(pre_roll=5, post_roll=10, scope="camera")
    for t, payload in stream:
        gate.feed(t, payload)
        for item in gate.take():
            ...  # item.keep, item.window
    gate.finish()
"""

from __future__ import annotations

import enum
import warnings
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .errors import LogFormatError
from .events import Event, check_kinds, kind_of
from .markers import Marker

#: Camera frames: an image, with the image_transform sent just before it.
CAMERA_KINDS = frozenset({"image", "image_transform"})
#: Defaults of the pre-roll and post-roll around activity, in seconds.
PRE_ROLL = 5.0
POST_ROLL = 10.0
#: The longest pre-roll or post-roll taken, in seconds (a day).
MAX_ROLL = 86400.0

#: What counts as activity: None (electrode moves), kind names, or a predicate on events.
ActivitySpec = None | str | Iterable[str] | Callable[[Event], bool]
_NOTHING: frozenset[int] = frozenset()


def driven_electrodes(event: Event) -> frozenset[int]:
    """The electrodes an electrode_state event drives (any drive group, or the old `electrodes` field)."""
    state = event.message.electrode_state
    driven = {i for group in state.drive_groups for i, on in enumerate(group.electrodes) if on}
    driven.update(i for i, on in enumerate(state.electrodes) if on)
    return frozenset(driven)


class ActivityDetector:
    """Tells which events are activity.

    `activity` is None (the default: an electrode_state whose driven electrodes differ
    from the previous electrode_state's; the first one seen only sets the baseline),
    kind names (every event of those kinds), or a predicate `callable(event) -> bool`.
    Electrode states are followed whatever `activity` is: `switched` holds the
    electrodes turned on or off by the last event looked at. A predicate that raises
    is set aside with a warning (`error` says why) and electrode moves count instead.
    """

    def __init__(self, activity: ActivitySpec = None) -> None:
        self._kinds: frozenset[str] | None = None
        self._predicate: Callable[[Event], bool] | None = None
        if callable(activity):
            self._predicate = activity
            self.description = f"events for which {getattr(activity, '__name__', 'the predicate')} is true"
        elif activity is not None:
            self._kinds = check_kinds(activity, "activity")
            if not self._kinds:
                raise ValueError("activity needs at least one event kind")
            self.description = f"every {', '.join(sorted(self._kinds))} event"
        else:
            self.description = "electrode moves (an electrode_state driving other electrodes than the one before)"
        self._driven: frozenset[int] | None = None
        #: Electrodes turned on or off by the last event looked at (empty unless it was an electrode_state).
        self.switched: frozenset[int] = frozenset()
        #: Why the predicate given was set aside (it raised), if it was.
        self.error: str | None = None

    @property
    def kinds(self) -> frozenset[str] | None:
        """The kinds of event it must see (the electrode states, and the kinds that count), or None for all
        (a predicate): a log's other events cannot change which periods are active."""
        if self._predicate is not None:
            return None
        return frozenset({"electrode_state"}) | (self._kinds or frozenset())

    def __call__(self, event: Event) -> bool:
        """Whether `event` is activity (events must be looked at in stream order)."""
        return self.check(event.kind, event.payload, event.received_ns, event)

    def check(self, kind: str, payload: bytes, time_ns: int | None = None, event: Event | None = None) -> bool:
        """`__call__` for an event not made into an `Event` yet (made only when needed: this runs for every event)."""
        moved = False
        if self.switched:
            self.switched = _NOTHING
        if kind == "electrode_state":
            event = event or Event(payload, received_ns=time_ns, kind=kind)
            moved = self._follow(event)
        if self._predicate is not None:
            try:
                return bool(self._predicate(event or Event(payload, received_ns=time_ns, kind=kind)))
            except Exception as exc:  # the caller's bug must cost neither the event nor the connection
                self._predicate = None
                self.error = f"the activity predicate failed and was replaced by electrode moves: {exc!r}"
                self.description = "electrode moves (the predicate given failed)"
                warnings.warn(self.error, RuntimeWarning, stacklevel=2)
        if self._kinds is not None:
            return kind in self._kinds
        return moved

    def _follow(self, event: Event) -> bool:
        try:
            driven = driven_electrodes(event)
        except LogFormatError:
            return False  # an unparsable state moves nothing we can tell
        previous, self._driven = self._driven, driven
        if previous is None:
            return False
        self.switched = previous ^ driven
        return bool(self.switched)


@dataclass
class Window:
    """A period of activity: from `pre_roll` before its first activity to `post_roll` after its last (Unix ns)."""

    number: int
    start_ns: int
    end_ns: int
    first_ns: int
    last_ns: int
    activities: int = 0
    electrodes: set[int] = field(default_factory=set)
    #: Set once no later activity can extend it.
    final: bool = False

    @property
    def duration(self) -> float:
        """Seconds from its start to its end, pre- and post-roll included."""
        return (self.end_ns - self.start_ns) / 1e9

    def covers(self, t_ns: int) -> bool:
        """Whether a time lies in the window (both ends included)."""
        return self.start_ns <= t_ns <= self.end_ns


class ItemKind(str, enum.Enum):
    """What the gate hands back."""

    EVENT = "event"
    MARKER = "marker"
    WINDOW_END = "window end"  # no later item belongs to `window`


@dataclass(slots=True)
class Item:
    """One decided item, handed back in the order fed: an event, a marker, or the end of a window."""

    kind: ItemKind
    time_ns: int
    payload: bytes = b""
    event_kind: str = ""
    marker: Marker | None = None
    keep: bool | None = None  # None: not decided yet
    window: Window | None = None
    camera: bool = False
    #: For an image decided with the image_transform before it: that transform's time (the frame's time).
    frame_ns: int | None = None
    # The image decided with this image_transform (one way only: no reference cycle for the collector).
    follower: Item | None = field(default=None, repr=False)


@dataclass
class GateCounts:
    """What the gate kept and dropped so far."""

    events_kept: int = 0
    events_dropped: int = 0
    bytes_kept: int = 0
    bytes_dropped: int = 0
    frames_kept: int = 0  # image events
    frames_dropped: int = 0
    markers: int = 0


def check_roll(value: object, what: str) -> int:
    """A pre- or post-roll in seconds, as ns (ValueError if it is no usable number)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_ROLL:
        raise ValueError(f"{what} must be from 0 to {MAX_ROLL:g} seconds, not {value!r}")
    return round(value * 1e9)


class ActivityGate:
    """Decides, in the order fed, which events lie within `pre_roll` before to `post_roll` after activity.

    `scope` "camera" decides camera frames only (every other event is kept: the
    recorder's `frames="activity"`, `trim --frames-only`); "all" decides every event
    (bursts of segments, `trim`). An image is decided with the image_transform sent
    just before it, so a frame is kept or dropped whole. Markers (`mark`) are kept
    and count as activity. Times are Unix ns, in feed order (a time before the latest
    counts as the latest for what is past). `max_held_bytes` bounds what waits for a
    decision: past it the oldest waiting event is dropped.
    """

    def __init__(
        self,
        pre_roll: float = PRE_ROLL,
        post_roll: float = POST_ROLL,
        *,
        scope: str = "camera",
        activity: ActivitySpec | ActivityDetector = None,
        max_held_bytes: int | None = None,
    ) -> None:
        if scope not in ("camera", "all"):
            raise ValueError(f"scope must be 'camera' or 'all', not {scope!r}")
        self.pre_ns = check_roll(pre_roll, "pre_roll")
        self.post_ns = check_roll(post_roll, "post_roll")
        self.scope = scope
        self.detector = activity if isinstance(activity, ActivityDetector) else ActivityDetector(activity)
        self._max_held = max_held_bytes
        self._line: deque[Item] = deque()  # every item not handed back yet, in feed order
        self._waiting: deque[Item] = deque()  # those waiting for a decision (an image waits with its transform)
        self._held_bytes = 0
        self._out: list[Item] = []
        self._now: int | None = None
        self._transform: Item | None = None  # the last image_transform, until its image comes
        #: Every window so far, in order (the last may still grow).
        self.windows: list[Window] = []
        self.counts = GateCounts()

    # -- feeding ---------------------------------------------------------------------

    def feed(self, time_ns: int, payload: bytes, kind: str | None = None) -> None:
        """Take the next event (received or logged at `time_ns`)."""
        # This runs for every event a recorder receives: written for speed (few calls, no keyword arguments).
        if kind is None:
            kind = kind_of(payload)
        now = self._now
        if now is None or time_ns > now:
            self._now = now = time_ns
        if self.detector.check(kind, payload, time_ns):
            self._activity(time_ns, self.detector.switched)
        camera = kind in CAMERA_KINDS
        item = Item(ItemKind.EVENT, time_ns, payload, kind, None, None, None, camera)
        window = self.windows[-1] if self.windows else None
        if window is not None and not window.start_ns <= time_ns <= window.end_ns:
            window = None
        if kind == "image" and self._transform is not None:
            leader, self._transform = self._transform, None
            leader.follower, item.frame_ns = item, leader.time_ns
            item.keep, item.window = leader.keep, leader.window  # undecided while its transform is
        elif not camera and self.scope == "camera":
            item.keep, item.window = True, window
        else:
            if kind == "image_transform":
                self._transform = item
            if window is not None:
                item.keep, item.window = True, window
            else:
                self._waiting.append(item)
        self._line.append(item)
        self._held_bytes += len(payload)
        self._settle(now)

    def mark(self, marker: Marker) -> None:
        """Take a marker: kept, and activity at its time."""
        self._tick(marker.time_ns)
        self._activity(marker.time_ns, frozenset())
        item = Item(ItemKind.MARKER, marker.time_ns, marker=marker)
        self._decide(item, True, self._covering(marker.time_ns))
        self._line.append(item)
        self._settle(self._now)

    def advance(self, now_ns: int) -> None:
        """Time has passed without events (a quiet stream): decide what can be decided by now."""
        self._tick(now_ns)
        self._settle(self._now)

    def drop_waiting(self) -> None:
        """Drop everything still waiting for a decision (a recording ends; the stream goes on)."""
        for item in self._waiting:
            if item.keep is None:
                self._decide(item, False, None)
        self._waiting.clear()
        self._release()

    def finish(self) -> None:
        """The stream ended: nothing undecided can be in a window any more."""
        self.drop_waiting()
        for window in self.windows:
            self._finalise(window)
        self._release()

    def take(self) -> list[Item]:
        """The items decided since the last call, in the order fed."""
        out, self._out = self._out, []
        return out

    # -- state -----------------------------------------------------------------------

    @property
    def held_bytes(self) -> int:
        """Payload bytes waiting for a decision (or behind one that waits)."""
        return self._held_bytes

    def active(self, now_ns: int | None = None) -> bool:
        """Whether a window is open at `now_ns` (default: the latest time fed)."""
        now = self._now if now_ns is None else now_ns
        window = self.windows[-1] if self.windows else None
        return window is not None and now is not None and window.start_ns <= now <= window.end_ns

    # -- inside ----------------------------------------------------------------------

    def _tick(self, t: int) -> None:
        if self._now is None or t > self._now:
            self._now = t

    def _covering(self, t: int) -> Window | None:
        window = self.windows[-1] if self.windows else None
        return window if window is not None and window.covers(t) else None

    def _activity(self, t: int, switched: frozenset[int]) -> None:
        window = self.windows[-1] if self.windows else None
        if window is None or t - self.pre_ns > window.end_ns:
            if window is not None:
                self._finalise(window)
            window = Window(len(self.windows) + 1, t - self.pre_ns, t + self.post_ns, t, t)
            self.windows.append(window)
        else:
            window.end_ns = max(window.end_ns, t + self.post_ns)
            window.first_ns = min(window.first_ns, t)
            window.last_ns = max(window.last_ns, t)
            window.start_ns = min(window.start_ns, t - self.pre_ns)
        window.activities += 1
        window.electrodes.update(switched)
        # Everything waiting is decided now: within the pre-roll it is kept, before it no later activity reaches it.
        for item in self._waiting:
            if item.keep is None:
                inside = window.covers(item.time_ns)
                self._decide(item, inside, window if inside else None)
        self._waiting.clear()

    def _decide(self, item: Item, keep: bool, window: Window | None) -> None:
        item.keep, item.window = keep, window
        if item.follower is not None:
            item.follower.keep, item.follower.window = keep, window

    def _settle(self, now: int | None) -> None:
        assert now is not None
        horizon = now - self.pre_ns  # an event before it can no longer fall in a later activity's pre-roll
        waiting = self._waiting
        while waiting and (waiting[0].keep is not None or waiting[0].time_ns < horizon):
            item = waiting.popleft()
            if item.keep is None:
                self._decide(item, False, None)
        windows = self.windows  # only the last one may not be final (`_activity` ends the one before)
        if windows and not windows[-1].final and windows[-1].end_ns < horizon:
            self._finalise(windows[-1])
        if self._max_held is not None:
            while self._line and self._held_bytes > self._max_held:
                head = self._line[0]
                if head.keep is None:
                    self._decide(head, False, None)  # the first waiting item: no image waiting with a transform
                self._release()
        if self._line and self._line[0].keep is not None:
            self._release()

    def _finalise(self, window: Window) -> None:
        if window.final:
            return
        window.final = True
        # Before the first undecided item: everything after it came after the window's end.
        end = Item(ItemKind.WINDOW_END, window.end_ns, window=window, keep=False)
        at = next((i for i, item in enumerate(self._line) if item.keep is None), len(self._line))
        self._line.insert(at, end)

    def _release(self) -> None:
        line = self._line
        counts = self.counts
        while line and line[0].keep is not None:
            item = line.popleft()
            size = len(item.payload)
            self._held_bytes -= size
            if item.kind is ItemKind.EVENT:
                if item.keep:
                    counts.events_kept += 1
                    counts.bytes_kept += size
                    counts.frames_kept += item.event_kind == "image"
                else:
                    counts.events_dropped += 1
                    counts.bytes_dropped += size
                    counts.frames_dropped += item.event_kind == "image"
            elif item.kind is ItemKind.MARKER:
                counts.markers += 1
            self._out.append(item)


def find_windows(
    timed: Iterable[tuple[int | None, Event]],
    *,
    pre_roll: float = PRE_ROLL,
    post_roll: float = POST_ROLL,
    activity: ActivitySpec = None,
    markers: Iterable[Marker] = (),
) -> list[Window]:
    """The windows of activity in (time, event) pairs (a log's `timed_events()`), and its markers."""
    gate = ActivityGate(pre_roll, post_roll, scope="camera", activity=activity)
    pending = sorted(markers, key=lambda m: m.time_ns)
    for t, event in timed:
        if t is None:
            continue
        while pending and pending[0].time_ns <= t:
            gate.mark(pending.pop(0))
        gate.feed(t, event.payload, event.kind)
        gate.take()
    for marker in pending:
        gate.mark(marker)
    gate.finish()
    return gate.windows


__all__ = [
    "CAMERA_KINDS",
    "POST_ROLL",
    "PRE_ROLL",
    "ActivityDetector",
    "ActivityGate",
    "ActivitySpec",
    "GateCounts",
    "Item",
    "ItemKind",
    "Window",
    "check_roll",
    "driven_electrodes",
    "find_windows",
]
