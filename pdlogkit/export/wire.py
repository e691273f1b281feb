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

_K = np.arange(4, dtype=np.int64)
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
    b = buf[pos]
    values = (b & 0x7F).astype(np.uint64)
    sizes = np.ones(len(pos), dtype=_I64)
    more = np.flatnonzero(b >= 0x80)
    k = 1
    while more.size and k < 10:  # byte k of the varints still going: one pass per byte, on those only
        b = buf[pos[more] + k]
        values[more] |= (b & 0x7F).astype(np.uint64) << np.uint64(7 * k)
        sizes[more] += 1
        more = more[b >= 0x80]
        k += 1
    sizes[more] = 0
    return values, sizes


def fixed32(buf: np.ndarray, pos: np.ndarray, dtype: str = "<f4") -> np.ndarray:
    """The 4-byte little-endian values at `pos` (float32 by default)."""
    return np.ascontiguousarray(buf[pos[:, None] + _K]).view(dtype).reshape(-1)


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
    counts = np.zeros(n, dtype=_I64)  # fields found per message so far
    while owner.size:
        tag, tag_size = varints(buf, pos)
        wire = (tag & np.uint64(7)).astype(_I64)
        number = (tag >> np.uint64(3)).astype(_I64)
        at = pos + tag_size
        value, value_size = varints(buf, at)
        delimited = wire == 2
        sane = ~delimited | (value < _MAX_LENGTH)
        start = np.where(delimited, at + value_size, at)
        length = np.where(delimited, np.where(sane, value, 0).astype(_I64), 0)
        length = np.where(wire == 1, 8, np.where(wire == 5, 4, length))
        nxt = np.where(wire == 0, at + value_size, start + length)
        ok = (
            (tag_size > 0)
            & (number > 0)
            & ((wire <= 2) | (wire == 5))
            & ((value_size > 0) | (wire == 1) | (wire == 5))
            & sane
            & (nxt <= end)
        )
        piece: tuple[np.ndarray, ...] = (owner, number, wire, value, start, length)
        if not ok.all():
            bad[owner[~ok]] = True
            piece = tuple(a[ok] for a in piece)
            going = ok & (nxt < end)
        else:
            going = nxt < end
        counts[piece[0]] += 1
        pieces.append(piece)
        if going.all():
            pos = nxt
        else:
            owner, pos, end = owner[going], nxt[going], end[going]
    # Order the fields by message, then position in it: a message's k-th field goes to first[message] + k.
    first = np.cumsum(counts) - counts
    total = int(counts.sum())
    columns = [np.empty(total, dtype=_I64) for _ in range(6)]
    columns[3] = np.empty(total, dtype=np.uint64)
    for step, piece in enumerate(pieces):
        where = first[piece[0]] + step
        for column, values in zip(columns, piece, strict=True):
            column[where] = values
    return Fields(*columns), bad


def last(owner: np.ndarray, values: np.ndarray, n: int, default: object) -> np.ndarray:
    """Per message, the value of its last occurrence of a field (`default` where it has none): protobuf's rule."""
    out = np.full(n, default, dtype=values.dtype)
    if owner.size:
        final = np.r_[owner[1:] != owner[:-1], True]
        out[owner[final]] = values[final]
    return out


def rank(owner: np.ndarray) -> np.ndarray:
    """The position of each entry among the entries of its message (owner sorted): 0, 1, 2, ..."""
    if not owner.size:
        return np.zeros(0, dtype=_I64)
    counts = np.bincount(owner)
    return np.arange(len(owner), dtype=_I64) - (np.cumsum(counts) - counts)[owner]


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
