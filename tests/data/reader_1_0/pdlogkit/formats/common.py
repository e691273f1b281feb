"""What every format reports about a file's health: where it is cut short, and what is damaged (pure).

A *truncation* is where a log ends early: inside a record or chunk (a killed
recorder, an interrupted copy), inside a container's header, or in zero padding
(what many filesystems leave at a file's tail after a power loss). Everything
before it reads fine. *Damage* is a stretch that cannot be read, with its kind.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from ..errors import LogFormatError

#: A run of zero bytes at least this long where a record or chunk should start is
#: padding, not data (a gateway never sends an empty event, let alone thousands).
#: A shorter run counts as padding only when it reaches the end of the file.
PADDING_PROBE = 64 * 1024


class CutKind(str, enum.Enum):
    """Where a log ends early."""

    RECORD = "record"  # a classic log ends inside a record
    CHUNK = "chunk"  # a container ends inside a chunk, its header, or (ambiguously) an index's first bytes
    HEADER = "header"  # a container ends inside its file header: nothing was recorded
    PADDING = "padding"  # zero bytes where the next record or chunk should start


@dataclass(frozen=True)
class Truncation:
    """Where a log ends early.

    `offset` is where the cut record, chunk or padding starts; `needed` the bytes the
    cut record or chunk declares (0 for padding); `available` the bytes from
    `offset` to the end of the data (for padding: the zero run's length as far as known).
    """

    offset: int
    needed: int
    available: int
    kind: CutKind = CutKind.RECORD

    def __str__(self) -> str:
        if self.kind is CutKind.PADDING:
            return (
                f"zero padding from byte {self.offset} ({self.available} bytes of zeros, what a power loss leaves): "
                "the log ends there"
            )
        if self.kind is CutKind.HEADER:
            return f"file ends inside the header, nothing recorded: {self.available} of {self.needed} bytes present"
        if self.kind is CutKind.CHUNK:
            return f"file ends inside the chunk at byte {self.offset}: {self.available} of {self.needed} bytes present"
        return f"truncated last record at byte {self.offset}: {self.available} of {self.needed} bytes present"


class DamageKind(str, enum.Enum):
    """What is wrong with a damaged stretch of a log."""

    CORRUPT_CHUNK = "corrupt chunk"  # a chunk whose checksum or columns do not check
    NOT_A_CHUNK = "not a chunk"  # bytes where a chunk should start that are none (skipped to the next chunk)
    CORRUPT_RECORD = "corrupt record"  # a classic record whose length prefix is impossible: the rest is unreadable
    HEADER = "header unreadable"  # a container's header does not check: its metadata is lost, not its events
    INDEX = "index unreadable"  # the index does not check: the file was read by scanning
    NO_INDEX = "no index"  # the file was not closed properly: read by scanning
    MISSING_EVENTS = "events missing"  # gaps in the sequence numbers: events lost before this file was written
    ZERO_RUN = "zero run"  # zero bytes where a chunk should start, with data after them


#: Damage that costs no event by itself (the events are found by scanning).
HARMLESS = frozenset({DamageKind.HEADER, DamageKind.INDEX, DamageKind.NO_INDEX})


@dataclass(frozen=True)
class Damage:
    """A stretch of a log that cannot be read (or something found missing): where, what and why."""

    offset: int
    kind: DamageKind
    reason: str
    #: Events known to be lost to it (0 when unknown or none).
    events: int = 0

    def __str__(self) -> str:
        return f"byte {self.offset}: {self.reason}"

    @property
    def costs_events(self) -> bool:
        """Whether events were lost to it (a missing index or header costs none)."""
        return self.kind not in HARMLESS


#: JSON a log holds (metadata, statistics) may nest at most this deep.
MAX_JSON_DEPTH = 64


def json_object(raw: bytes | memoryview, what: str, offset: int, *, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """Decode JSON a log holds that must be an object, nested at most `max_depth` deep; else `LogFormatError`."""
    try:
        data = json.loads(bytes(raw))
    except (ValueError, UnicodeDecodeError):
        raise LogFormatError(f"{what} is not valid JSON", offset=offset) from None
    except RecursionError:
        raise LogFormatError(f"{what} is JSON nested too deeply", offset=offset) from None
    if not isinstance(data, dict):
        raise LogFormatError(f"{what} is not a JSON object", offset=offset)
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            raise LogFormatError(f"{what} is JSON nested more than {max_depth} deep", offset=offset)
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return data


def zero_prefix(data: bytes | memoryview) -> int:
    """How many of the first bytes of `data` are zero."""
    n = len(data)
    stripped = bytes(data).lstrip(b"\0") if n <= 4096 else None
    if stripped is not None:
        return n - len(stripped)
    # Large runs: compare block-wise against zeros (memcmp speed, no copy of the whole run).
    pos = 0
    block = 4096
    zeros = bytes(block)
    view = memoryview(data)
    while pos + block <= n and view[pos : pos + block] == zeros:
        pos += block
    tail = bytes(view[pos : pos + block])
    return pos + (len(tail) - len(tail.lstrip(b"\0")))


__all__ = [
    "HARMLESS",
    "MAX_JSON_DEPTH",
    "PADDING_PROBE",
    "CutKind",
    "Damage",
    "DamageKind",
    "Truncation",
    "json_object",
    "zero_prefix",
]
