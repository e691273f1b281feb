"""Electrode board definitions: found by name as the gateway finds them, answered as it answers them, drawn.

A board definition is a JSON file describing where each of the 128 electrode pins
sits on the board: one or more grids of square electrodes, and peripherals
(reservoirs and other pads) whose electrodes are polygons. The eight definitions the
original gateway ships (`misl_v3` ... `misl_v7.0`) are package data here.

    board = load_board("misl_v6")                # a path, ~/.config/purpledrop/boards/NAME.json, or shipped
    board.gateway_definition()                   # what the gateway's get_board_definition answers
    board.electrodes[12].outlines                # polygons in board coordinates, for drawing
    board.extent                                 # (min_x, min_y, max_x, max_y)

Two generations of files exist: old ones have a single `layout.grid` (pitch 1, origin
0, 0) and may share electrode shapes through `layout.peripheral_templates`; newer ones
have `layout.grids`, each with its `origin` and `pitch` (millimetres). The gateway
turns both into one shape, and so does `Board`.

Board coordinates are those the gateway's web UI draws in: x to the right, y down; a
grid cell (column c, row r) is the square from `origin + (c, r) * pitch`, one pitch
wide; a peripheral electrode's polygon is moved by the peripheral's and the
electrode's origins, then turned by the peripheral's `rotation` (degrees, clockwise
on screen, y being down) about the peripheral's origin.
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import dataclass
from importlib import resources
from typing import Any, NamedTuple

from ..errors import BoardError

__all__ = [
    "CONFIG_DIR",
    "PINS",
    "Board",
    "BoardError",
    "Electrode",
    "Extent",
    "load_board",
    "shipped_boards",
]

#: Electrode pins on a PurpleDrop: pin numbers are 0 to PINS - 1.
PINS = 128
#: Where the gateway looks for a user's own board definitions (NAME.json), as `~` expanded.
CONFIG_DIR = os.path.join("~", ".config", "purpledrop", "boards")

Point = tuple[float, float]
Polygon = tuple[Point, ...]


class Extent(NamedTuple):
    """The rectangle holding every electrode, in board coordinates."""

    min_x: float
    min_y: float
    max_x: float
    max_y: float

    @property
    def width(self) -> float:
        return self.max_x - self.min_x

    @property
    def height(self) -> float:
        return self.max_y - self.min_y


@dataclass(frozen=True)
class Electrode:
    """One electrode pin and its shape: one outline per grid cell or pad it drives.

    Most electrodes have one outline; an oversized electrode of an old board spans
    several grid cells, each its own square. Outlines list their corners in order,
    implicitly closed (the last corner joins the first).
    """

    pin: int
    outlines: tuple[Polygon, ...]

    @property
    def center(self) -> Point:
        """The middle of the electrode's bounding box (where to put a label or a marker)."""
        xs = [x for outline in self.outlines for x, _ in outline]
        ys = [y for outline in self.outlines for _, y in outline]
        return ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)


class Board:
    """A board definition, checked and normalised as the gateway does.

    `source` says where it came from (a path, or `pdlogkit:NAME` for a shipped one).
    Build one with `load_board(name)` or `Board(definition_dict)`; a definition that
    is not what a board file holds raises `BoardError` naming the source.
    """

    def __init__(self, definition: Any, source: str = "board definition") -> None:
        self.source = source
        if not isinstance(definition, dict):
            raise BoardError(f"{source}: a board definition is a JSON object, not {type(definition).__name__}")
        layout = definition.get("layout")
        if not isinstance(layout, dict):
            raise BoardError(f'{source}: a board definition needs a "layout" object')
        try:
            self.grids = _grids(layout)
            self.peripherals = _peripherals(layout)
            self.oversized_electrodes = _pin_list(definition.get("oversized_electrodes", []), "oversized_electrodes")
            self.electrodes = _electrodes(self.grids, self.peripherals)
        except (KeyError, TypeError, ValueError) as exc:
            raise BoardError(f"{source}: {_describe(exc)}") from None
        #: The camera registration (fiducials and control points) of boards that have one, as in the file.
        self.registration: dict[str, Any] | None = definition.get("registration")
        self.extent = _extent(self.electrodes.values())

    def gateway_definition(self) -> dict[str, Any]:
        """What the gateway's `get_board_definition` answers: the layout's grids and peripherals, normalised,
        and `oversized_electrodes` (a fresh copy the caller may change)."""
        return {
            "layout": {"grids": copy.deepcopy(self.grids), "peripherals": copy.deepcopy(self.peripherals)},
            "oversized_electrodes": list(self.oversized_electrodes),
        }

    @property
    def pins(self) -> list[int]:
        """The pins that have an electrode on this board, in increasing order."""
        return sorted(self.electrodes)

    def __repr__(self) -> str:
        return f"Board({self.source!r}, {len(self.electrodes)} electrodes)"


def shipped_boards() -> list[str]:
    """Names of the board definitions shipped with pdlogkit (`misl_v3`, ..., `misl_v7.0`)."""
    folder = resources.files(__name__)
    return sorted(entry.name[: -len(".json")] for entry in folder.iterdir() if entry.name.endswith(".json"))


def load_board(name: str | os.PathLike[str]) -> Board:
    """Find a board definition the way the gateway's `--board NAME` does, and load it.

    In order: `NAME` as a path, `NAME.json` as a path, `~/.config/purpledrop/boards/NAME.json`,
    then a definition shipped with pdlogkit. `BoardError` names every place tried when none
    is found, and the file when it is not a valid definition.
    """
    text = os.fspath(name)
    if not text:
        raise BoardError("no board name given")
    stem = text[: -len(".json")] if text.endswith(".json") else text
    candidates = [text] if text.endswith(".json") else [text, text + ".json"]
    if os.path.basename(text) == text:  # a bare name: the user's own boards too
        candidates.append(os.path.join(os.path.expanduser(CONFIG_DIR), stem + ".json"))
    tried = []
    for path in candidates:
        tried.append(path)
        if os.path.isfile(path):
            return _load_file(path)
    if stem in shipped_boards():
        resource = resources.files(__name__) / f"{stem}.json"
        return _parse(resource.read_text(encoding="utf-8"), f"pdlogkit:{stem}")
    tried.append(f"the boards shipped with pdlogkit ({', '.join(shipped_boards())})")
    raise BoardError(f"board definition {text!r} not found; tried {'; '.join(tried)}")


def _load_file(path: str) -> Board:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BoardError(f"cannot read board definition {path}: {reason}") from None
    return _parse(text, path)


def _parse(text: str, source: str) -> Board:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BoardError(f"board definition {source} is not valid JSON: {exc}") from None
    return Board(data, source)


# --- normalising, as the gateway does ------------------------------------------


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a number, not {value!r}")
    return float(value)


def _point(value: Any, what: str) -> list[float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"{what} must be [x, y], not {value!r}")
    return [_number(value[0], what), _number(value[1], what)]


def _pin(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"{what} must be a pin number, not {value!r}")
    pin = int(value)
    if not 0 <= pin < PINS:
        raise ValueError(f"{what} must be a pin from 0 to {PINS - 1}, not {pin}")
    return pin


def _pin_list(value: Any, what: str) -> list[int]:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list of pins, not {value!r}")
    return [_pin(v, what) for v in value]


def _pin_rows(rows: Any, what: str) -> list[list[int | None]]:
    """Grid rows with empty cells (-1 or null) as None, as the gateway answers them."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ValueError(f"{what} must be a list of rows")
    return [[None if pin is None or pin == -1 else _pin(pin, what) for pin in row] for row in rows]


def _grids(layout: dict[str, Any]) -> list[dict[str, Any]]:
    # The old generation's single `grid` wins over `grids`, as in the gateway.
    if "grid" in layout:
        return [{"origin": [0.0, 0.0], "pitch": 1.0, "pins": _pin_rows(layout["grid"], "layout.grid")}]
    grids = layout.get("grids", [])
    if not isinstance(grids, list):
        raise ValueError("layout.grids must be a list")
    result = []
    for i, grid in enumerate(grids):
        if not isinstance(grid, dict):
            raise ValueError(f"layout.grids[{i}] must be an object")
        if _number(grid["pitch"], f"layout.grids[{i}].pitch") <= 0:
            raise ValueError(f"layout.grids[{i}].pitch must be > 0, not {grid['pitch']}")
        _point(grid["origin"], f"layout.grids[{i}].origin")
        # Numbers stay as the file writes them (the gateway answers 0 for 0, 2.5 for 2.5).
        result.append(
            {
                "origin": grid["origin"],
                "pitch": grid["pitch"],
                "pins": _pin_rows(grid["pins"], f"layout.grids[{i}].pins"),
            }
        )
    return result


def _peripherals(layout: dict[str, Any]) -> list[dict[str, Any]]:
    """Peripherals with their electrodes completed from `peripheral_templates` (the electrode's own fields win)."""
    peripherals = layout.get("peripherals") or []  # the web UI needs a list, even where the file has none
    templates = layout.get("peripheral_templates") or {}
    if not isinstance(peripherals, list) or not isinstance(templates, dict):
        raise ValueError("layout.peripherals must be a list and layout.peripheral_templates an object")
    result = []
    for i, peripheral in enumerate(peripherals):
        what = f"layout.peripherals[{i}]"
        if not isinstance(peripheral, dict) or "type" not in peripheral:
            raise ValueError(f"{what} must be an object with a type")
        template = templates.get(peripheral["type"]) or {}
        shapes = {e.get("id"): e for e in template.get("electrodes", []) if isinstance(e, dict)}
        electrodes = peripheral.get("electrodes", [])
        if not isinstance(electrodes, list) or not all(isinstance(e, dict) for e in electrodes):
            raise ValueError(f"{what}.electrodes must be a list of objects")
        merged = dict(copy.deepcopy(peripheral))
        merged["electrodes"] = [{**copy.deepcopy(shapes.get(e.get("id"), {})), **e} for e in electrodes]
        result.append(merged)
    return result


# --- geometry ------------------------------------------------------------------


def _rotate(points: list[Point], center: list[float], degrees: float) -> list[Point]:
    angle = math.radians(degrees)
    c, s = math.cos(angle), math.sin(angle)
    cx, cy = center
    return [(cx + c * (x - cx) - s * (y - cy), cy + s * (x - cx) + c * (y - cy)) for x, y in points]


def _electrodes(grids: list[dict[str, Any]], peripherals: list[dict[str, Any]]) -> dict[int, Electrode]:
    outlines: dict[int, list[Polygon]] = {}
    for grid in grids:
        (ox, oy), pitch = _point(grid["origin"], "origin"), float(grid["pitch"])
        for row, pins in enumerate(grid["pins"]):
            for column, pin in enumerate(pins):
                if pin is None:
                    continue
                x, y = ox + column * pitch, oy + row * pitch
                outlines.setdefault(pin, []).append(((x, y), (x + pitch, y), (x + pitch, y + pitch), (x, y + pitch)))
    for i, peripheral in enumerate(peripherals):
        origin = _point(peripheral.get("origin", [0.0, 0.0]), f"layout.peripherals[{i}].origin")
        rotation = _number(peripheral.get("rotation") or 0.0, f"layout.peripherals[{i}].rotation")
        for j, electrode in enumerate(peripheral["electrodes"]):
            what = f"layout.peripherals[{i}].electrodes[{j}]"
            pin = _pin(electrode.get("pin"), f"{what}.pin")
            ex, ey = _point(electrode.get("origin", [0.0, 0.0]), f"{what}.origin")
            polygon = electrode.get("polygon")
            if not isinstance(polygon, list) or len(polygon) < 3:
                raise ValueError(f"{what} needs a polygon of at least 3 points (its own or its template's)")
            points = [(px + origin[0] + ex, py + origin[1] + ey) for px, py in (_point(p, what) for p in polygon)]
            if len(points) > 3 and points[0] == points[-1]:
                points.pop()  # closed explicitly in the file: outlines are implicitly closed
            if rotation:
                points = _rotate(points, origin, rotation)
            outlines.setdefault(pin, []).append(tuple(points))
    return {pin: Electrode(pin, tuple(shapes)) for pin, shapes in sorted(outlines.items())}


def _extent(electrodes: Any) -> Extent:
    xs = [x for e in electrodes for outline in e.outlines for x, _ in outline]
    ys = [y for e in electrodes for outline in e.outlines for _, y in outline]
    if not xs:
        return Extent(0.0, 0.0, 0.0, 0.0)
    return Extent(min(xs), min(ys), max(xs), max(ys))
