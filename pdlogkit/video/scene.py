"""What an overlay shows on a frame (pure): the log's clock, the marker in force, the driven electrodes and
where the board is in the picture, and the recent active capacitance.

A `SceneTracker` is fed the log's events in order (those of `kinds`) and asked for
the `Scene` at each frame's time. The picture's registration comes from the
`image_transform` event the gateway sends just before each image: a homography
(3x3, row-major) from board coordinates (those of `pdlogkit.boards`, x right, y
down) to the pixels of a picture `image_width` x `image_height`, as the camera
daemon computes it (grid to reference picture, then reference to this picture)
and the gateway's web UI draws it. An empty transform means the board was not
found in the picture.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import LogFormatError
from ..events import Event
from ..markers import Marker
from ..schema import ElectrodeState

Point = tuple[float, float]

#: The events a scene is made of (and `active_capacitance` when its plot is drawn).
SCENE_KINDS = ("image_transform", "electrode_state")
CAPACITANCE_KIND = "active_capacitance"
#: Seconds of active capacitance the plot shows, up to the frame's time.
CAPACITANCE_SECONDS = 10.0
#: Drive groups the gateway reports (the web UI shows both).
DRIVE_GROUPS = 2


@dataclass(frozen=True)
class Registration:
    """Where the board is in a picture: `matrix` (9 values, row-major) maps board coordinates to the pixels
    of a picture of `size` (None when the transform does not say)."""

    matrix: tuple[float, ...]
    size: tuple[int, int] | None = None

    @classmethod
    def from_transform(cls, values: Sequence[float], width: int = 0, height: int = 0) -> Registration | None:
        """The registration an `image_transform` describes, or None: empty (not registered), not 3x3,
        not finite, or singular."""
        if len(values) != 9:
            return None
        matrix = tuple(float(v) for v in values)
        if not all(math.isfinite(v) for v in matrix) or abs(_determinant(matrix)) < 1e-12:
            return None
        return cls(matrix, (width, height) if width > 0 and height > 0 else None)

    def project(self, points: Iterable[Point]) -> list[Point] | None:
        """The points in picture pixels; None if one lies on or behind the horizon (no sensible drawing)."""
        a, b, c, d, e, f, g, h, i = self.matrix
        out = []
        for x, y in points:
            w = g * x + h * y + i
            if not w > 1e-12:
                return None
            out.append(((a * x + b * y + c) / w, (d * x + e * y + f) / w))
        return out

    def onto(self, picture: tuple[int, int], output: tuple[int, int]) -> Registration:
        """The registration in the video's pixels: from the transform's picture size to the decoded
        `picture`'s (as the web UI stretches its drawing over the image), then to the `output` size (the
        video's: the picture cropped by an odd column or row, or scaled to the first frame's size)."""
        sx = sy = 1.0
        if self.size is not None and self.size != picture:
            sx, sy = picture[0] / self.size[0], picture[1] / self.size[1]
        if (picture[0] & ~1, picture[1] & ~1) != output:  # scaled, not merely cropped
            sx, sy = sx * output[0] / picture[0], sy * output[1] / picture[1]
        if sx == sy == 1.0:
            return Registration(self.matrix, output)
        a, b, c, d, e, f, g, h, i = self.matrix
        return Registration((a * sx, b * sx, c * sx, d * sy, e * sy, f * sy, g, h, i), output)


def _determinant(m: tuple[float, ...]) -> float:
    a, b, c, d, e, f, g, h, i = m
    return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)


def driven_pins(state: ElectrodeState) -> tuple[frozenset[int], ...]:
    """The pins of each drive group of an `ElectrodeState` message; an old log's lone `electrodes` is group A."""
    groups = [frozenset(i for i, on in enumerate(group.electrodes) if on) for group in state.drive_groups]
    if not groups:
        groups = [frozenset(i for i, on in enumerate(state.electrodes) if on)]
    groups = (groups + [frozenset()] * DRIVE_GROUPS)[:DRIVE_GROUPS]
    return tuple(groups)


NOTHING_DRIVEN: tuple[frozenset[int], ...] = (frozenset(),) * DRIVE_GROUPS


@dataclass(frozen=True)
class Scene:
    """What to draw on one frame."""

    t_ns: int  # the frame's time (Unix ns)
    origin_ns: int | None  # the log's start, for seconds from it
    registration: Registration | None  # where the board is in the picture; None: not registered
    driven: tuple[frozenset[int], ...]  # pins driven by each drive group
    known_state: bool  # an electrode_state was seen (else the driven pins are unknown)
    marker: Marker | None  # the latest marker at or before the frame
    capacitance: tuple[tuple[int, float], ...] | None  # (t_ns, calibrated) over the plot's span; None: no plot

    @property
    def seconds(self) -> float | None:
        """Seconds from the log's start."""
        return None if self.origin_ns is None else (self.t_ns - self.origin_ns) / 1e9


class SceneTracker:
    """Keeps the state in force as a log's events go by, and makes the `Scene` of a frame."""

    def __init__(self, origin_ns: int | None, markers: Iterable[Marker] = (), *, capacitance: bool = False) -> None:
        self.origin_ns = origin_ns
        self._markers = sorted(markers, key=lambda m: m.time_ns)
        self._marker_times = [m.time_ns for m in self._markers]
        self._registration: Registration | None = None
        self._driven = NOTHING_DRIVEN
        self._known_state = False
        self._capacitance: deque[tuple[int, float]] | None = deque() if capacitance else None
        #: Events of the scene's kinds that did not parse (left out, never fatal).
        self.unreadable = 0

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of event to `feed`."""
        return (*SCENE_KINDS, CAPACITANCE_KIND) if self._capacitance is not None else SCENE_KINDS

    def feed(self, event: Event) -> None:
        """Take in one event of `kinds` (others are ignored)."""
        try:
            if event.kind == "image_transform":
                t = event.message.image_transform
                self._registration = Registration.from_transform(t.transform, t.image_width, t.image_height)
            elif event.kind == "electrode_state":
                self._driven = driven_pins(event.message.electrode_state)
                self._known_state = True
            elif event.kind == CAPACITANCE_KIND and self._capacitance is not None:
                t_ns = event.time_ns
                value = event.message.active_capacitance.calibrated
                if t_ns is not None and math.isfinite(value):
                    self._capacitance.append((t_ns, value))
        except LogFormatError:
            self.unreadable += 1

    def scene(self, t_ns: int) -> Scene:
        """The scene of a frame at `t_ns` (Unix ns), from the events fed so far."""
        if self.origin_ns is None:  # a log whose start is not known (a stream): seconds from the first frame
            self.origin_ns = t_ns
        i = bisect.bisect_right(self._marker_times, t_ns)
        marker = self._markers[i - 1] if i else None
        plot = None
        if self._capacitance is not None:
            since = t_ns - round(CAPACITANCE_SECONDS * 1e9)
            history = self._capacitance
            while history and history[0][0] < since - 1_000_000_000:  # keep a second of slack for jitter
                history.popleft()
            plot = tuple(p for p in history if since <= p[0] <= t_ns)
        return Scene(t_ns, self.origin_ns, self._registration, self._driven, self._known_state, marker, plot)
