"""Markers added while recording: from a script (`rec.mark(...)`), or typed on the terminal (pure)."""

from __future__ import annotations

import json
from typing import Any

from ..markers import Marker

#: Longest marker text taken (a label, not a document).
MAX_TEXT = 4096


def new_marker(time_ns: int, text: str, fields: dict[str, Any]) -> Marker:
    """A marker at `time_ns`; ValueError if the text is not a string or the fields are not JSON."""
    if not isinstance(text, str):
        raise ValueError(f"a marker's text is a string, not {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise ValueError(f"a marker's text is at most {MAX_TEXT} characters, not {len(text)}")
    try:
        json.dumps(fields, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a marker's fields must be JSON values: {exc}") from None
    return Marker(time_ns, text, dict(fields))


def parse_marker_line(line: str, time_ns: int) -> Marker | None:
    """A marker from a line typed on the terminal: `TEXT`, or `TEXT {"json": "fields"}`; None for an empty line.

    The fields are a JSON object at the end of the line; a line whose end is not
    one is all text.
    """
    line = line.strip()
    if not line:
        return None
    brace = line.find("{")
    while brace >= 0:
        try:
            fields = json.loads(line[brace:])
        except ValueError:
            fields = None
        if isinstance(fields, dict):
            return new_marker(time_ns, line[:brace].strip(), fields)
        brace = line.find("{", brace + 1)
    return new_marker(time_ns, line, {})


__all__ = ["MAX_TEXT", "new_marker", "parse_marker_line"]
