"""The protobuf wire format read with numpy, many messages at once (pure).

A table of a sensor kind needs a few numbers out of each of hundreds of
thousands of small messages (128 capacitance measurements per scan). Parsing
each with protobuf and reading its fields from Python costs a Python object per
measurement; here a batch of payloads is one byte array, and `walk` steps
through the fields of every message of the batch together: one numpy pass per
field position, not per message. Nested messages are walked the same way,
from the byte ranges of the fields holding them.

Every proto3 wire form is understood (packed and unpacked repeated fields,
fields in any order, repeated occurrences where the last wins or they merge,
unknown fields); a message that is not valid wire format is flagged `bad`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Zero bytes after the last payload, so that reading a varint (at most 10 bytes) never leaves the array.
PAD = 16

_K = np.arange(10, dtype=np.int64)
_SHIFT = (7 * _K).astype(np.uint64)
_I64 = np.int64
#: Lengths above this are corrupt whatever the buffer (and would overflow int64 arithmetic).
_MAX_LENGTH = 1 << 40


def pack(payloads: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(buffer, starts, ends): the payloads one after another in one uint8 array, and where each lies."""
    lengths = np.fromiter(map(len, payloads), dtype=_I64, count=len(payloads))
    ends = np.cumsum(lengths)
    starts = ends - lengths
    buf = np.frombuffer(b"".join(payloads) + bytes(PAD), dtype=np.uint8)
    return buf, starts, ends


def varints(buf: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values as uint64, sizes in bytes) of the varints at `pos`; size 0 where one runs over 10 bytes."""
    first = buf[pos]
    values = first.astype(np.uint64)
    sizes = np.ones(len(pos), dtype=_I64)
    multi = np.flatnonzero(first >= 0x80)
    if multi.size:
        b = buf[pos[multi, None] + _K]
        stop = b < 0x80
        n = stop.argmax(axis=1) + 1
        parts = (b & 0x7F).astype(np.uint64) << _SHIFT
        parts[n[:, None] <= _K] = 0
        values[multi] = np.bitwise_or.reduce(parts, axis=1)
        sizes[multi] = np.where(stop.any(axis=1), n, 0)
    return values, sizes


def fixed32(buf: np.ndarray, pos: np.ndarray, dtype: str = "<f4") -> np.ndarray:
    """The 4-byte little-endian values at `pos` (float32 by default)."""
    return np.ascontiguousarray(buf[pos[:, None] + _K[:4]]).view(dtype).reshape(-1)


@dataclass
class Fields:
    """The fields of a batch of messages, one entry per field occurrence, in order within each message.

    `owner` is the message's index in the batch (entries are sorted by it, stably);
    `value` is a varint's value; `start`/`length` the bytes of a length-delimited
    or fixed-size field.
    """

    owner: np.ndarray
    number: np.ndarray
    wire: np.ndarray
    value: np.ndarray
    start: np.ndarray
    length: np.ndarray

    def select(self, number: int, wire: int) -> Fields:
        """The occurrences of field `number` with wire type `wire` (others of that number are unknown fields)."""
        keep = (self.number == number) & (self.wire == wire)
        return Fields(*(a[keep] for a in self._arrays()))

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return (self.owner, self.number, self.wire, self.value, self.start, self.length)

    def __len__(self) -> int:
        return len(self.owner)


def walk(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[Fields, np.ndarray]:
    """(fields, bad): every field of the messages at [starts, ends), and which messages are not valid wire format."""
    n = len(starts)
    bad = np.zeros(n, dtype=bool)
    owner = np.arange(n, dtype=_I64)
    pos = np.asarray(starts, dtype=_I64)
    end = np.asarray(ends, dtype=_I64)
    live = pos < end
    owner, pos, end = owner[live], pos[live], end[live]
    pieces: list[tuple[np.ndarray, ...]] = []
    while owner.size:
        tag, tag_size = varints(buf, pos)
        wire = (tag & np.uint64(7)).astype(_I64)
        number = (tag >> np.uint64(3)).astype(_I64)
        at = pos + tag_size
        value, value_size = varints(buf, at)
        length = np.zeros_like(at)
        start = at
        nxt = at + value_size  # a varint
        delimited = wire == 2
        sane = ~delimited | (value < _MAX_LENGTH)
        lengths = np.where(sane, value, 0).astype(_I64)
        start = np.where(delimited, at + value_size, start)
        length = np.where(delimited, lengths, length)
        length = np.where(wire == 1, 8, np.where(wire == 5, 4, length))
        nxt = np.where(wire == 0, nxt, start + length)
        ok = (
            (tag_size > 0)
            & (number > 0)
            & ((wire <= 2) | (wire == 5))
            & ((value_size > 0) | (wire == 1) | (wire == 5))
            & sane
            & (nxt <= end)
        )
        if not ok.all():
            bad[owner[~ok]] = True
        pieces.append(tuple(a[ok] for a in (owner, number, wire, value, start, length)))
        going = ok & (nxt < end)
        owner, pos, end = owner[going], nxt[going], end[going]
    if pieces:
        arrays = [np.concatenate(col) for col in zip(*pieces, strict=True)]
        order = np.argsort(arrays[0], kind="stable")
        fields = Fields(*(a[order] for a in arrays))
    else:
        empty = np.zeros(0, dtype=_I64)
        fields = Fields(empty, empty, empty, empty.astype(np.uint64), empty, empty)
    return fields, bad


def last(owner: np.ndarray, values: np.ndarray, n: int, default: object) -> np.ndarray:
    """Per message, the value of its last occurrence of a field (`default` where it has none): protobuf's rule."""
    out = np.full(n, default, dtype=values.dtype)
    if owner.size:
        final = np.r_[owner[1:] != owner[:-1], True]
        out[owner[final]] = values[final]
    return out


def rank(owner: np.ndarray) -> np.ndarray:
    """The position of each entry among the entries of its message (owner sorted): 0, 1, 2, ..."""
    return np.arange(len(owner), dtype=_I64) - np.searchsorted(owner, owner, side="left")


def expand(starts: np.ndarray, counts: np.ndarray, stride: int) -> np.ndarray:
    """Positions of `counts[i]` items of `stride` bytes from each `starts[i]`, one after another."""
    total = int(counts.sum())
    first = np.cumsum(counts) - counts
    index = np.arange(total, dtype=_I64) - np.repeat(first, counts)
    return np.repeat(starts, counts) + index * stride


def repeated_fixed32(buf: np.ndarray, fields: Fields, number: int, dtype: str = "<f4") -> tuple[np.ndarray, ...]:
    """(owner, values, bad owners) of a repeated 4-byte field, packed or not, in order."""
    f = fields
    wanted = (f.number == number) & ((f.wire == 5) | (f.wire == 2))
    wire, start, length, owner = f.wire[wanted], f.start[wanted], f.length[wanted], f.owner[wanted]
    packed = wire == 2
    broken = packed & (length % 4 != 0)
    counts = np.where(packed, length // 4, 1)
    counts[broken] = 0
    pos = expand(start, counts, 4)
    return np.repeat(owner, counts), fixed32(buf, pos, dtype), owner[broken]


def repeated_varint(buf: np.ndarray, fields: Fields, number: int) -> tuple[np.ndarray, ...]:
    """(owner, values as uint64, bad owners) of a repeated varint field, packed or not, in order."""
    f = fields
    wanted = (f.number == number) & ((f.wire == 0) | (f.wire == 2))
    wire, value, start, length, owner = (
        f.wire[wanted],
        f.value[wanted],
        f.start[wanted],
        f.length[wanted],
        f.owner[wanted],
    )
    entry = np.arange(len(owner), dtype=_I64)
    packed = wire == 2
    # Packed: every byte below 0x80 ends a varint; a varint starts at its region's start or after an end.
    byte_pos = expand(start[packed], length[packed], 1)
    byte_entry = np.repeat(entry[packed], length[packed])
    ends = buf[byte_pos] < 0x80
    new_entry = np.r_[True, byte_entry[1:] != byte_entry[:-1]] if byte_pos.size else np.zeros(0, bool)
    begins = new_entry.copy()
    begins[1:] |= ends[:-1]
    last_byte = np.r_[new_entry[1:], True] if byte_pos.size else np.zeros(0, bool)
    broken = np.unique(byte_entry[last_byte & ~ends])
    packed_values, sizes = varints(buf, byte_pos[begins])
    broken = np.union1d(broken, byte_entry[begins][sizes == 0])
    keys = np.concatenate([entry[~packed], byte_entry[begins]])
    values = np.concatenate([value[~packed], packed_values])
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    return owner[keys], values, owner[broken.astype(_I64)]


__all__ = [
    "PAD",
    "Fields",
    "expand",
    "fixed32",
    "last",
    "pack",
    "rank",
    "repeated_fixed32",
    "repeated_varint",
    "varints",
    "walk",
]
