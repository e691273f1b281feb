"""What the viewer tests share: small logs with a board and markers, and the state a paused replay shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pdlogkit import open_log
from pdlogkit.events import Event
from pdlogkit.log import open_writer
from pdlogkit.markers import Marker
from pdlogkit.synth import DEFAULT_START_NS, GRID_COLUMNS, GRID_ROWS, SynthStream, electrode_index


def synth_board() -> dict[str, Any]:
    """The synthetic 16 x 8 board the synthetic camera frames show, as get_board_definition answers it."""
    pins = [[electrode_index(c, r) for c in range(GRID_COLUMNS)] for r in range(GRID_ROWS)]
    return {
        "layout": {"grids": [{"origin": [0.0, 0.0], "pitch": 2.5, "pins": pins}], "peripherals": []},
        "oversized_electrodes": [],
    }


def write_marked_log(path: Path, seconds: float, markers: dict[float, str], **stream: Any) -> Path:
    """A synthetic log holding its board in its metadata, with a marker at each of `markers`' times (s)."""
    with open_writer(path, metadata={"board": synth_board()}) as writer:
        for t, payload in SynthStream(seconds, **stream):
            writer.write(payload, t)
        for at, text in markers.items():
            writer.add_marker(Marker(DEFAULT_START_NS + round(at * 1e9), text, {"at": at}))
    return path


def shown_at(path: Path, seconds: float) -> tuple[Event | None, Event | None]:
    """The last camera frame and electrode state before `seconds` on the playback timeline, the slow way:
    every event of the log, on its clock, against position 0 (the first timed event)."""
    frame = state = None
    with open_log(path) as log:
        timed = list(log.timed_events())
    origin = next(e.received_ns or e.time_ns for _, e in timed if (e.received_ns or e.time_ns) is not None)
    at = origin + round(seconds * 1e9)
    for t, event in timed:
        if t is not None and t < at:
            if event.kind == "image":
                frame = event
            elif event.kind == "electrode_state":
                state = event
    return frame, state


def frame_id(frame: Event | None) -> str | None:
    """A frame as the page labels it (`data-timestamp`): its timestamp's seconds and nanoseconds."""
    if frame is None:
        return None
    ts = frame.message.image.timestamp
    return f"{ts.seconds}.{ts.nanos:09d}"


def driven(state: Event | None) -> list[int]:
    """The pins of drive groups 0 and 1 of an electrode_state."""
    if state is None:
        return []
    groups = state.message.electrode_state.drive_groups
    return sorted({pin for group in groups[:2] for pin, on in enumerate(group.electrodes) if on})
