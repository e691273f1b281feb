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


@dataclass
class ActivityPeriod:
    """A period of activity in a log: seconds from the log's start, pre- and post-roll included (cut at the
    log's ends)."""

    start: float
    end: float
    first: float  # the first activity
    last: float  # the last activity
    activities: int  # activity events (moves) and markers in it
    electrodes: list[int] = field(default_factory=list)  # switched on or off by its moves

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "duration": self.duration}


@dataclass
class ActivityReport:
    """The periods of activity of a log (what `pdlogkit activity` prints) and how much of it they cover."""

    path: str
    activity: str  # what counted as activity
    pre_roll: float
    post_roll: float
    duration: float  # the log's, in seconds
    periods: list[ActivityPeriod] = field(default_factory=list)

    @property
    def covered(self) -> float:
        """Seconds of the log inside a period."""
        return sum(p.duration for p in self.periods)

    @property
    def fraction(self) -> float:
        """The share of the log inside a period (0 to 1)."""
        return self.covered / self.duration if self.duration > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "path": self.path,
            "activity": self.activity,
            "pre_roll": self.pre_roll,
            "post_roll": self.post_roll,
            "duration": self.duration,
            "covered": self.covered,
            "fraction": self.fraction,
            "periods": [p.to_dict() for p in self.periods],
        }


@dataclass
class TrimReport(WriteReport):
    """What `trim_log` kept and cut."""

    frames_only: bool = False
    events_cut: int = 0
    frames_kept: int = 0
    frames_cut: int = 0
    bytes_cut: int = 0
    markers: int = 0
    periods: list[ActivityPeriod] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "periods": [p.to_dict() for p in self.periods]}


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in data.items()}


__all__ = [
    "ActivityPeriod",
    "ActivityReport",
    "RecoverReport",
    "RecoverStatus",
    "TrimReport",
    "VerifyReport",
    "WriteReport",
]
