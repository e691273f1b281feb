"""Events of the PurpleDrop stream: kinds, timestamps and the `Event` record.

The gateway's `PurpleDropEvent` is a single oneof, so the first byte of a payload is
the tag of the set field and tells the kind without parsing. The embedded
timestamp is read by a small wire-format scan, also without a full parse.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .errors import LogFormatError
from .formats.wire import signed64, skip, varint

if TYPE_CHECKING:
    from .schema import PurpleDropEvent

#: Event kinds, in field-number order: `KINDS[n - 1]` is the oneof field number n.
KINDS: tuple[str, ...] = (
    "electrode_layout",
    "electrode_state",
    "image",
    "image_transform",
    "settings",
    "scan_capacitance",
    "active_capacitance",
    "hv_regulator",
    "temperature_control",
    "device_info",
    "group_capacitance",
    "duty_cycle_updated",
)

#: The kind of a payload that sets no known field (an empty or foreign message).
UNKNOWN = "unknown"

#: Field number of the Timestamp inside each kind's message; device_info has none.
TIMESTAMP_FIELD: dict[str, int | None] = {kind: 1 for kind in KINDS}
TIMESTAMP_FIELD.update(hv_regulator=3, temperature_control=3, device_info=None)

# First byte -> kind: fields 1..15 with wire type 2 (length-delimited) have tag (n << 3) | 2.
_KIND_BY_FIRST_BYTE: list[str] = [UNKNOWN] * 256
_TS_FIELD_BY_FIRST_BYTE: list[int | None] = [None] * 256
for _number, _kind in enumerate(KINDS, start=1):
    _KIND_BY_FIRST_BYTE[(_number << 3) | 2] = _kind
    _TS_FIELD_BY_FIRST_BYTE[(_number << 3) | 2] = TIMESTAMP_FIELD[_kind]


def check_kinds(kinds: object, what: str = "kinds") -> frozenset[str] | None:
    """Validate a collection of kind names (None passes); raise ValueError naming bad ones."""
    if kinds is None:
        return None
    if isinstance(kinds, str):
        kinds = [kinds]
    if not isinstance(kinds, Iterable):
        raise ValueError(f"{what} must be event kind names, not {kinds!r}")
    chosen = frozenset(str(k) for k in kinds)
    bad = sorted(chosen - set(KINDS))
    if bad:
        raise ValueError(f"unknown event kind(s) in {what}: {', '.join(bad)}; known: {', '.join(KINDS)}")
    return chosen


def kind_of(payload: bytes) -> str:
    """The kind of a serialized event, from its first byte; `UNKNOWN` if none matches."""
    return _KIND_BY_FIRST_BYTE[payload[0]] if payload else UNKNOWN


_MIN_NS, _MAX_NS = -(1 << 63), (1 << 63) - 1


def timestamp_ns(payload: bytes) -> int | None:
    """The embedded timestamp as integer Unix nanoseconds, or None.

    None when the kind carries no timestamp, the field is absent or zero, or the
    payload is malformed (asking for `Event.message` reports the latter), or the
    time lies outside what 64-bit nanoseconds hold (years 1678 to 2262).
    """
    if not payload:
        return None
    ts_field = _TS_FIELD_BY_FIRST_BYTE[payload[0]]
    if ts_field is None:
        return None
    try:
        length, pos = varint(payload, 1)
        end = pos + length
        if end > len(payload):
            return None
        while pos < end:
            tag, pos = varint(payload, pos)
            if tag == (ts_field << 3) | 2:
                ts_len, pos = varint(payload, pos)
                ts_end = pos + ts_len
                seconds = nanos = 0
                while pos < ts_end:
                    tag, pos = varint(payload, pos)
                    if tag == 0x08:
                        value, pos = varint(payload, pos)
                        seconds = signed64(value)
                    elif tag == 0x10:
                        value, pos = varint(payload, pos)
                        nanos = signed64(value)
                    else:
                        pos = skip(payload, pos, tag & 7)
                if pos != ts_end or ts_end > end:
                    return None
                ns = seconds * 1_000_000_000 + nanos
                # Zero is "no timestamp"; a time no log can store (past 2262) is a malformed one.
                return ns if ns and _MIN_NS <= ns <= _MAX_NS else None
            pos = skip(payload, pos, tag & 7)
    except (IndexError, ValueError):
        return None
    return None


def parse_event(payload: bytes, *, offset: int | None = None, path: str | None = None) -> PurpleDropEvent:
    """Parse a payload into a `PurpleDropEvent`, raising `LogFormatError` where it is not one."""
    from google.protobuf.message import DecodeError

    from .schema import PurpleDropEvent

    try:
        return PurpleDropEvent.FromString(payload)
    except DecodeError as exc:
        raise LogFormatError(f"payload is not a PurpleDropEvent ({exc})", path=path, offset=offset) from None


_UNSET = object()


class Event:
    """One event of a log or stream.

    `kind` is the set oneof field's name, `payload` the serialized bytes exactly as
    stored, `offset` the record's byte offset in its file (None for live events),
    `received` the receive time in Unix seconds where the log holds one (indexed
    container, live recorder), `time` the embedded timestamp in Unix seconds or
    None, and `message` the parsed `PurpleDropEvent` (parsed on first access).
    """

    __slots__ = ("_message", "_path", "_time_ns", "kind", "offset", "payload", "received_ns")

    def __init__(
        self,
        payload: bytes,
        offset: int | None = None,
        received_ns: int | None = None,
        *,
        kind: str | None = None,
        path: str | None = None,
    ) -> None:
        self.payload = payload
        # kind_of(), inlined: this runs once per event of every read.
        self.kind = kind if kind is not None else (_KIND_BY_FIRST_BYTE[payload[0]] if payload else UNKNOWN)
        self.offset = offset
        self.received_ns = received_ns
        self._path = path
        self._time_ns: object = _UNSET
        self._message: PurpleDropEvent | None = None

    @property
    def time_ns(self) -> int | None:
        """The embedded timestamp in integer Unix nanoseconds, or None."""
        if self._time_ns is _UNSET:
            self._time_ns = timestamp_ns(self.payload)
        return self._time_ns  # type: ignore[return-value]

    @property
    def time(self) -> float | None:
        """The embedded timestamp in Unix seconds, or None (absent, zero or malformed)."""
        ns = self.time_ns
        return None if ns is None else ns / 1e9

    @property
    def received(self) -> float | None:
        """The receive time in Unix seconds, where the log holds one."""
        return None if self.received_ns is None else self.received_ns / 1e9

    @property
    def message(self) -> PurpleDropEvent:
        """The parsed `PurpleDropEvent`; `LogFormatError` (with the offset) if it does not parse."""
        if self._message is None:
            self._message = parse_event(self.payload, offset=self.offset, path=self._path)
        return self._message

    @property
    def size(self) -> int:
        """The payload's size in bytes."""
        return len(self.payload)

    def __repr__(self) -> str:
        where = f" @{self.offset}" if self.offset is not None else ""
        return f"<Event {self.kind} {len(self.payload)} B{where} time={self.time}>"
