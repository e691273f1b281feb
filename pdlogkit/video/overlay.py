"""What a video overlay draws, and where its board comes from: `Overlay` (the options), `OverlayReport`.

The drawing itself is in `painter` (over `drawing`), imported only when an overlay
is drawn: the command line loads this package for every command.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any

from ..boards import Board, load_board
from ..errors import BoardError


@dataclass(frozen=True)
class Overlay:
    """What `write_video(..., overlay=...)` draws on each frame.

    `board` is a `Board`, a name or path as `pdlogkit.boards.load_board` takes it, or
    None for the board the log names in its metadata (`metadata["board"]`, the
    gateway's get_board_definition answer). `capacitance` adds a small live plot of
    active capacitance in a corner. `timezone` is the wall clock's (None: UTC).
    """

    board: Board | str | os.PathLike[str] | None = None
    capacitance: bool = False
    timezone: dt.tzinfo | None = None


@dataclass
class OverlayReport:
    """What the overlay could draw, for `VideoSummary.overlay`."""

    board: str | None  # where the board definition came from; None: no board, no electrodes drawn
    frames: int = 0  # frames drawn on
    in_place: int = 0  # frames with the driven electrodes outlined where they are in the picture
    inset: int = 0  # frames without a usable registration: the electrode-grid inset instead
    capacitance: bool = False
    notes: list[str] = field(default_factory=list)


def resolve_board(choice: Board | str | os.PathLike[str] | None, metadata: dict[str, Any]) -> tuple[Board | None, str]:
    """The board to draw and a note on where it came from (or why there is none).

    A board asked for by name that cannot be found raises `BoardError`; a log's own
    definition that is not usable is only a note: the video is made without it.
    """
    if isinstance(choice, Board):
        return choice, choice.source
    if choice is not None:
        board = load_board(choice)
        return board, board.source
    definition = metadata.get("board")
    if definition is None:
        return None, "no board given and the log names none: electrodes not drawn (give one with --board NAME)"
    try:
        return Board(definition, "the log's metadata"), "the log's metadata"
    except BoardError as exc:
        return None, f"the log's board definition is not usable ({exc}): electrodes not drawn"
