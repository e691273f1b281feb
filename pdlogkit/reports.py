"""What the log operations report: plain dataclasses, JSON-ready (pure)."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class WriteReport:
    """What an operation that writes a log did."""

    output: str
    format: str
    events: int
    bytes_in: int
    bytes_out: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Input bytes per second."""
        return self.bytes_in / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {**_plain(asdict(self)), "rate": self.rate}


class RecoverStatus(str, enum.Enum):
    """How much `recover_log` saved."""

    NOTHING_LOST = "nothing lost"
    SOME_LOST = "some lost"
    NOTHING_RECOVERABLE = "nothing recoverable"


@dataclass
class RecoverReport(WriteReport):
    """What `recover_log` saved, and what it could not: each loss names its byte offset."""

    status: RecoverStatus = RecoverStatus.NOTHING_LOST
    lost: list[str] = field(default_factory=list)


@dataclass
class VerifyReport:
    """What a verification found. `problems` make it fail; `warnings` do not."""

    path: str
    format: str
    events: int = 0
    chunks: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the log is sound: no problem found."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {**asdict(self), "ok": self.ok}


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in data.items()}


__all__ = ["RecoverReport", "RecoverStatus", "VerifyReport", "WriteReport"]
