"""The recorder's background writer: order kept, memory bounded, errors reported, nothing lost."""

from __future__ import annotations

import os

import pytest

from pdlogkit.files.background import BackgroundWriter
from pdlogkit.files.classic import ClassicWriter
from pdlogkit.formats.classic import encode_record


def test_events_land_in_order_even_when_the_queue_is_full(tmp_path):
    payloads = [bytes([0x3A]) + os.urandom(1000) for _ in range(2000)]
    writer = BackgroundWriter(ClassicWriter(tmp_path / "a.bin"), max_pending_bytes=10_000)
    for p in payloads:
        writer.write(p, 0)
    writer.close()
    assert (tmp_path / "a.bin").read_bytes() == b"".join(encode_record(p) for p in payloads)
    assert writer.events_written == 2000


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_write_error_is_raised_by_the_next_call_and_by_close():
    writer = BackgroundWriter(ClassicWriter("/dev/full"))
    with pytest.raises(OSError, match="No space left"):  # surfaces at a later call
        for _ in range(10_000):
            writer.write(b"\x3a" + bytes(1000), 0)
            writer.flush()
    with pytest.raises(OSError):
        writer.close()
