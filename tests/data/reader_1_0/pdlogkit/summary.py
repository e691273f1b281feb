"""What a log holds, as figures: `LogSummary`, and `SummaryBuilder` that accumulates one (pure, no I/O).

Writers keep a builder as they go and store its statistics in the index (or the
sidecar of a classic log); readers rebuild the summary from those statistics, or
from a scan of the events.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from .events import KINDS
from .formats.common import Truncation

#: A stretch with no event at all longer than this counts as a gap in a summary.
GAP_NS = 2_000_000_000


@dataclass
class LogSummary:
    """What a log holds: time span, counts, sizes and rates per kind, gaps."""

    path: str
    format: str
    file_size: int
    events: int = 0
    start_ns: int | None = None
    end_ns: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    gaps: list[tuple[float, float]] = field(default_factory=list)
    time_source: str = "timestamps"
    truncation: Truncation | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Where the figures come from: "index" (container), "sidecar" (classic + `pdlogkit index`) or "scan".
    source: str = "scan"
    #: Chunks in a container (0 for classic).
    chunks: int = 0
    #: Damage found: corrupt chunks, a missing index (each names its byte offset).
    problems: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Seconds from the earliest to the latest event time (0 for an untimed log)."""
        if self.start_ns is None or self.end_ns is None:
            return 0.0
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def start(self) -> dt.datetime | None:
        """The earliest event time as an aware UTC datetime."""
        return _datetime(self.start_ns)

    @property
    def end(self) -> dt.datetime | None:
        """The latest event time as an aware UTC datetime."""
        return _datetime(self.end_ns)

    @property
    def payload_bytes(self) -> int:
        """Bytes of event payloads, all kinds together."""
        return sum(self.sizes.values())

    @property
    def classic_size(self) -> int:
        """Bytes the same events take in the classic format."""
        return self.payload_bytes + 4 * self.events

    @property
    def compression_ratio(self) -> float:
        """Classic size over file size: how much smaller than classic this file is."""
        return self.classic_size / self.file_size if self.file_size else 1.0

    @property
    def rates(self) -> dict[str, float]:
        """Events per second of each kind over the log's duration."""
        seconds = self.duration
        return {k: (n / seconds if seconds else 0.0) for k, n in self.counts.items()}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary, for `info --json` and scripts."""
        data = asdict(self)
        data["truncation"] = asdict(self.truncation) if self.truncation else None
        data.update(
            duration=self.duration,
            start=self.start.isoformat() if self.start else None,
            end=self.end.isoformat() if self.end else None,
            payload_bytes=self.payload_bytes,
            compression_ratio=self.compression_ratio,
            rates=self.rates,
        )
        return data


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer")
    return value


def _int_or_none(value: Any) -> int | None:
    return None if value is None else _int(value)


def _datetime(ns: int | None) -> dt.datetime | None:
    return None if ns is None else dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc)


class SummaryBuilder:
    """Accumulates a `LogSummary` from events in log order (pure; used by scans and writers)."""

    def __init__(self) -> None:
        self.events = 0
        self.counts: dict[str, int] = {}
        self.sizes: dict[str, int] = {}
        self.start_ns: int | None = None
        self.end_ns: int | None = None
        self.gaps_ns: list[tuple[int, int]] = []

    def add(self, kind: str, size: int, t_ns: int | None) -> None:
        """Count one event of `kind` and `size` payload bytes at log time `t_ns` (None: untimed)."""
        self.events += 1
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.sizes[kind] = self.sizes.get(kind, 0) + size
        if t_ns is None:
            return
        # Times of different kinds are only roughly ordered: the start is the earliest, not the first.
        if self.start_ns is None or self.end_ns is None:
            self.start_ns = self.end_ns = t_ns
        elif t_ns > self.end_ns:
            if t_ns - self.end_ns > GAP_NS:
                self.gaps_ns.append((self.end_ns, t_ns))
            self.end_ns = t_ns
        elif t_ns < self.start_ns:
            self.start_ns = t_ns

    def to_stats(self) -> dict[str, Any]:
        """The statistics an index or sidecar stores (see specs/container.md, "Statistics")."""
        return {
            "events": self.events,
            "counts": dict(self.counts),
            "sizes": dict(self.sizes),
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "gaps_ns": [list(g) for g in self.gaps_ns],
        }

    @classmethod
    def from_stats(cls, stats: dict[str, Any]) -> SummaryBuilder:
        """A builder holding the statistics `to_stats` made (unknown keys ignored).

        `ValueError` if they are malformed (wrong types, counts and sizes of different kinds).
        """
        builder = cls()
        try:
            builder.events = _int(stats.get("events", 0))
            builder.counts = {str(k): _int(v) for k, v in dict(stats.get("counts", {})).items()}
            builder.sizes = {str(k): _int(v) for k, v in dict(stats.get("sizes", {})).items()}
            builder.start_ns = _int_or_none(stats.get("start_ns"))
            builder.end_ns = _int_or_none(stats.get("end_ns"))
            builder.gaps_ns = [(_int(a), _int(b)) for a, b in stats.get("gaps_ns", [])]
        except (TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed statistics ({exc})") from None
        if builder.counts.keys() != builder.sizes.keys() or sum(builder.counts.values()) != builder.events:
            raise ValueError("malformed statistics (counts, sizes and events disagree)")
        if (builder.start_ns is None) != (builder.end_ns is None):
            raise ValueError("malformed statistics (a start without an end)")
        return builder

    def build(self, path: str, format: str, file_size: int, **extra: Any) -> LogSummary:
        """The summary of everything added so far."""
        start = self.start_ns or 0
        gaps = [((a - start) / 1e9, (b - start) / 1e9) for a, b in self.gaps_ns]
        order = {k: i for i, k in enumerate(KINDS)}
        counts = dict(sorted(self.counts.items(), key=lambda kv: order.get(kv[0], len(order))))
        return LogSummary(
            path=path,
            format=format,
            file_size=file_size,
            events=self.events,
            start_ns=self.start_ns,
            end_ns=self.end_ns,
            counts=counts,
            sizes={k: self.sizes[k] for k in counts},
            gaps=gaps,
            **extra,
        )


__all__ = ["GAP_NS", "LogSummary", "SummaryBuilder"]
