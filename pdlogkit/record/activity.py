"""The recorder's ways to route events into files: everything, frames only around activity, a file per burst.

Each mode takes the events that passed the filters and hands them to the
`SegmentKeeper` (the open file). The activity modes decide through the same
`ActivityGate` that `pdlogkit trim` uses after the fact (see `pdlogkit.activity`).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable

from ..activity import ActivityGate, Item, ItemKind, Window
from ..errors import RecorderStateError, RecordingFailed
from ..events import kind_of
from ..files.background import BackgroundWriter
from ..markers import Marker
from .segments import SegmentKeeper, SegmentSummary

#: Called with the writer and summary of a burst's file once it ends (the writer is the caller's to close).
Finished = Callable[[BackgroundWriter, SegmentSummary], None]


class Everything:
    """Every event that passes the filters goes to the open segment (the default)."""

    def __init__(self, keeper: SegmentKeeper) -> None:
        self.keeper = keeper

    def on_event(self, payload: bytes, received_ns: int) -> None:
        self.keeper.on_event(payload, received_ns)

    def mark(self, marker: Marker) -> None:
        self.keeper.add_marker(marker)

    def tick(self, now_ns: int) -> None:
        """Time passes (called about once a second)."""

    def settle(self) -> None:
        """The open segment ends: hand over everything held back."""

    def active(self) -> bool | None:
        """Whether activity is on (None: this mode does not look for it)."""
        return None

    @property
    def error(self) -> str | None:
        """Why the activity predicate given was set aside, if it was."""
        return None


class _Gated(Everything):
    """A mode that decides through an `ActivityGate`; `_route` hands over what it decided."""

    def __init__(self, keeper: SegmentKeeper, gate: ActivityGate) -> None:
        super().__init__(keeper)
        self.gate = gate

    def on_event(self, payload: bytes, received_ns: int) -> None:
        kind = kind_of(payload)
        if self.keeper.wanted(kind):
            self.gate.feed(received_ns, payload, kind)
            self._route()

    def mark(self, marker: Marker) -> None:
        self.gate.mark(marker)
        self._route()

    def tick(self, now_ns: int) -> None:
        self.gate.advance(now_ns)
        self._route()

    def active(self) -> bool | None:
        return self.gate.active()

    @property
    def error(self) -> str | None:
        return self.gate.detector.error

    def _route(self) -> None:
        raise NotImplementedError


class FramesAroundActivity(_Gated):
    """Every non-camera event is kept; camera frames only within the pre- and post-roll of activity.

    The gate runs for the recorder's whole life, so a segment started in the middle
    of a burst keeps its frames; while idle, kept events go to the pre-roll buffer.
    """

    def mark(self, marker: Marker) -> None:
        if not self.keeper.recording:
            raise RecorderStateError("not recording: a marker needs an open segment")
        super().mark(marker)

    def settle(self) -> None:
        # Frames waiting for a decision when the segment ends are outside any activity so far: dropped.
        self.gate.drop_waiting()
        self._route()

    def _route(self) -> None:
        keeper = self.keeper
        for item in self.gate.take():
            if item.kind is ItemKind.EVENT:
                if item.keep:
                    keeper.accept(item.payload, item.time_ns, item.event_kind, item.window)
                else:
                    keeper.dropped(item.event_kind, len(item.payload))
            elif item.kind is ItemKind.MARKER and item.marker is not None and keeper.recording:
                keeper.add_marker(item.marker)


def burst_path(pattern: str, number: int) -> str:
    """The file of burst `number` (from 1): `pattern` with `{n}` replaced (a format spec like `{n:03d}` works)."""
    return pattern.format(n=number)


def check_burst_pattern(pattern: str, overwrite: bool) -> str:
    """A usable file pattern for bursts (it holds `{n}`); unless `overwrite`, no file it names may exist yet."""
    try:
        first, second = burst_path(pattern, 1), burst_path(pattern, 2)
    except (KeyError, IndexError, ValueError):
        raise ValueError(f"the file pattern may hold only {{n}} (numbering the files), not {pattern!r}") from None
    if first == second:
        raise ValueError(
            f"the file pattern must hold {{n}} (numbering the files), e.g. run-{{n}}.pdlz, not {pattern!r}"
        )
    if not overwrite:
        existing = _existing(pattern)
        if existing:
            more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
            raise RecordingFailed(
                f"cannot record bursts to {pattern}: {existing[0]}{more} exists; use --force (overwrite=True) "
                "to replace them"
            )
    return pattern


def _existing(pattern: str) -> list[str]:
    """Files that `pattern` could name already there (the numbers are matched, whatever their format)."""
    parts = re.split(r"\{n(?::[^}]*)?\}", pattern)
    shape = re.compile("^" + r"\s*\d+".join(re.escape(p) for p in parts) + "$")
    found = glob.glob("*".join(glob.escape(p) for p in parts))
    return sorted(f for f in found if shape.match(f) and os.path.isfile(f))


class BurstSegments(_Gated):
    """A file for each burst of activity: everything from its pre-roll to its post-roll.

    Files are named by `pattern` with `{n}` = 1, 2, ... A burst longer than
    `max_segment_ns` continues in the next file, with no event lost between them.
    `finished` is called with each file's writer and summary when it ends.
    """

    def __init__(
        self,
        keeper: SegmentKeeper,
        gate: ActivityGate,
        pattern: str,
        finished: Finished,
        *,
        format: str | None = None,
        max_segment_ns: int | None = None,
    ) -> None:
        super().__init__(keeper, gate)
        self.pattern = pattern
        self.format = format
        self._finished = finished
        self._max_ns = max_segment_ns
        self._number = 0
        self._window: Window | None = None  # the burst of the open file
        self._opened_at = 0

    def finish(self) -> None:
        """The bursts end: the open file (if any) ends with what was decided."""
        self.gate.finish()
        self._route()
        if self.keeper.recording:
            self._end()

    @property
    def files(self) -> int:
        """How many files were opened."""
        return self._number

    def _route(self) -> None:
        keeper = self.keeper
        for item in self.gate.take():
            if keeper.failed:
                continue  # the error waits for the next call; nothing more is written
            if item.kind is ItemKind.WINDOW_END:
                if keeper.recording and item.window is self._window:
                    self._end()
            elif item.keep and item.window is not None:
                self._keep(item, item.window)

    def _keep(self, item: Item, window: Window) -> None:
        keeper = self.keeper
        if keeper.recording and (
            window is not self._window or (self._max_ns is not None and item.time_ns - self._opened_at > self._max_ns)
        ):
            self._end()
        if not keeper.recording and not self._begin(window, item.time_ns):
            return
        if item.kind is ItemKind.MARKER:
            assert item.marker is not None
            keeper.add_marker(item.marker)
        else:
            keeper.accept(item.payload, item.time_ns, item.event_kind, window)

    def _begin(self, window: Window, first_ns: int) -> bool:
        self._number += 1
        try:
            self.keeper.start(burst_path(self.pattern, self._number), self.format)
        except RecordingFailed as exc:
            self.keeper.report(exc)
            return False
        self._window = window
        self._opened_at = first_ns
        return True

    def _end(self) -> None:
        writer, summary = self.keeper.detach(check=False)
        self._window = None
        self._finished(writer, summary)


__all__ = ["BurstSegments", "Everything", "FramesAroundActivity", "burst_path", "check_burst_pattern"]
