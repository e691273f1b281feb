"""Markers: moments a scientist labels in a recording (a time, a text, optional JSON fields). Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Marker:
    """A labelled moment: `time_ns` on the log's clock (Unix ns), a `text`, and JSON-ready `fields`."""

    time_ns: int
    text: str
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def time(self) -> float:
        """The marker's time in Unix seconds."""
        return self.time_ns / 1e9

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary: time (Unix seconds), time_ns, text, fields."""
        return {"time": self.time, "time_ns": self.time_ns, "text": self.text, "fields": dict(self.fields)}

    @classmethod
    def from_dict(cls, data: Any) -> Marker:
        """A marker from `to_dict`'s form (ValueError when it is not one)."""
        if not isinstance(data, dict):
            raise ValueError(f"a marker is a JSON object, not {type(data).__name__}")
        t = data.get("time_ns")
        if t is None and isinstance(data.get("time"), int | float) and math.isfinite(data["time"]):
            t = round(data["time"] * 1e9)
        text = data.get("text", "")
        fields = data.get("fields", {})
        if isinstance(t, bool) or not isinstance(t, int) or not isinstance(text, str) or not isinstance(fields, dict):
            raise ValueError("a marker needs an integer time_ns, a text and an object of fields")
        return cls(t, text, fields)


__all__ = ["Marker"]
