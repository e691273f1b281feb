"""Recording around activity, live: a websocket feed of our own with moves at known times.

The feed sends a scripted stream in lock step with the recorders: it sets the clock
the recorders stamp receive times with to an event's scripted time, sends it, and
waits until every recorder has received it. Receive times are then exactly the
scripted ones, so what each mode keeps can be checked exactly, with no timing in
the test.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from pdlogkit import EventRecorder, RecorderStateError, RecordingFailed, open_log
from pdlogkit import schema as pb
from pdlogkit._loop import BackgroundLoop
from pdlogkit.ops import trim_log

S = 1_000_000_000
T0 = 1_767_225_600 * S
PRE, POST = 1.0, 2.0
MOVES = {4.0: 1, 5.5: 2, 14.0: 3, 14.4: 4}  # seconds -> electrode: two bursts
RESTART_AT = 14.2  # the gateway restarts in the middle of the second burst
DURATION = 20.0


def at(seconds: float) -> int:
    return T0 + round(seconds * S)


def _state(electrode: int) -> bytes:
    pins = [i == electrode for i in range(128)]
    return pb.PurpleDropEvent(
        electrode_state=pb.ElectrodeState(drive_groups=[pb.ElectrodeGroup(electrodes=pins, setting=200)])
    ).SerializeToString()


def _sensor(kind: str, n: int) -> bytes:
    ts = pb.Timestamp(seconds=T0 // S + n // 100, nanos=(n % 100) * 10_000_000)
    if kind == "active_capacitance":
        return pb.PurpleDropEvent(
            active_capacitance=pb.ActiveCapacitance(timestamp=ts, calibrated=n)
        ).SerializeToString()
    return pb.PurpleDropEvent(
        temperature_control=pb.TemperatureControl(timestamp=ts, temperatures=[n])
    ).SerializeToString()


def _frame(n: int) -> list[bytes]:
    ts = pb.Timestamp(seconds=T0 // S + n // 100, nanos=(n % 100) * 10_000_000)
    jpeg = b"\xff\xd8" + n.to_bytes(4, "big") * 50 + b"\xff\xd9"
    return [
        pb.PurpleDropEvent(image_transform=pb.ImageTransform(timestamp=ts, image_width=n)).SerializeToString(),
        pb.PurpleDropEvent(image=pb.Image(timestamp=ts, image_data=jpeg)).SerializeToString(),
    ]


def script() -> list[tuple[int, bytes]]:
    """20 s: a frame every 0.1 s (transform, image 1 ms later), active_capacitance every 0.05 s, a temperature
    every second (excluded by the recorders), the drop's first state at 0 and moves at MOVES."""
    events = [(at(0.0), _state(0))]
    for k in range(round(DURATION * 20)):
        t = k * 0.05
        events.append((at(t), _sensor("active_capacitance", k * 5)))
        if k % 2 == 0:
            transform, image = _frame(k * 5)
            events += [(at(t + 0.0002), transform), (at(t + 0.001), image)]
        if k % 20 == 0:
            events.append((at(t), _sensor("temperature_control", k * 5)))
    events += [(at(t), _state(e)) for t, e in MOVES.items()]
    return sorted(events, key=lambda pair: pair[0])


def windows() -> list[tuple[int, int]]:
    """Brute force: the union of [move - PRE, move + POST] over the moves."""
    spans = sorted((at(t - PRE), at(t + POST)) for t in MOVES)
    merged = [list(spans[0])]
    for a, b in spans[1:]:
        if a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def inside(t: int) -> bool:
    return any(a <= t <= b for a, b in windows())


def kept_by_rule(events: list[tuple[int, bytes]], frames_only: bool) -> list[tuple[int, bytes]]:
    """Brute force: what a mode keeps. A frame (image_transform, then its image) goes by its transform's time."""
    kept = []
    frame_inside = None
    for t, payload in events:
        field = payload[0] >> 3
        if field == 4:
            frame_inside = inside(t)
        if field in (3, 4):
            keep = frame_inside if frame_inside is not None else inside(t)
        else:
            keep = frames_only or inside(t)
        if keep:
            kept.append((t, payload))
    return kept


def recorded_script() -> list[tuple[int, bytes]]:
    """The script as the recorders keep it: without the excluded temperature_control (field 9)."""
    return [(t, p) for t, p in script() if p[0] >> 3 != 9]


class LockstepFeed:
    """A real websocket gateway on 127.0.0.1 that plays a script in lock step with the recorders."""

    def __init__(self, events: list[tuple[int, bytes]]) -> None:
        self.events = events
        self.now = events[0][0]
        self.sent = 0
        self._loop = BackgroundLoop("lockstep-feed")
        self._clients: set = set()
        self._server = None
        self.port = 0

    def clock(self) -> int:
        """The recorders' clock: the scripted time of the event being sent."""
        return self.now

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _handle(self, ws) -> None:
        self._clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            self._clients.discard(ws)

    async def _start(self) -> None:
        from websockets.asyncio.server import serve

        self._server = await serve(self._handle, "127.0.0.1", self.port, max_size=None, compression=None)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _send(self, payload: bytes) -> None:
        await asyncio.gather(*(ws.send(payload) for ws in list(self._clients)), return_exceptions=True)

    def start(self) -> LockstepFeed:
        self._loop.run(self._start(), timeout=10)
        return self

    def restart(self, recorders: list[EventRecorder]) -> None:
        """What a gateway restart does: every connection closes; it listens again on the same port."""
        self._loop.run(self._stop(), timeout=10)
        _wait(lambda: not any(r.connected for r in recorders))
        self._loop.run(self._start(), timeout=10)
        self.wait_for(recorders)

    def wait_for(self, recorders: list[EventRecorder]) -> None:
        _wait(lambda: all(r.connected for r in recorders) and len(self._clients) == len(recorders))

    def play(self, recorders: list[EventRecorder], until: float | None = None, *, marks=None) -> None:
        """Send the script up to `until` seconds; `marks` maps seconds to (text, fields) marked on every recorder."""
        base = {id(r): r.status().received - self.sent for r in recorders}
        marks = dict(marks or {})
        while self.sent < len(self.events):
            t, payload = self.events[self.sent]
            if until is not None and t >= at(until):
                break
            for when in [w for w in marks if at(w) <= t]:
                self.now = at(when)
                text, fields = marks.pop(when)
                for r in recorders:
                    r.mark(text, **fields)
            self.now = t
            self._loop.run(self._send(payload), timeout=10)
            self.sent += 1
            _wait(lambda: all(r.status().received - base[id(r)] >= self.sent for r in recorders))

    def close(self) -> None:
        self._loop.run(self._stop(), timeout=10)
        self._loop.close()


def _wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.001)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One run of the script recorded three ways at once (everything; frames around activity; a file per burst),
    with a gateway restart in the middle of the second burst and a marker in the first."""
    folder = tmp_path_factory.mktemp("activity")
    feed = LockstepFeed(script()).start()
    common = {"clock": feed.clock, "exclude": {"temperature_control"}, "rpc_url": "http://127.0.0.1:9/rpc"}
    rolls = {"pre_roll": PRE, "post_roll": POST}
    everything = EventRecorder(feed.ws_url, **common)
    frames = EventRecorder(feed.ws_url, frames="activity", **rolls, **common)
    bursts = EventRecorder(feed.ws_url, **rolls, **common)
    recorders = [everything, frames, bursts]
    try:
        feed.wait_for(recorders)
        everything.start(folder / "everything.pdlz")
        frames.start(folder / "frames.bin")  # the classic format: markers go to its sidecar
        bursts.start_bursts(str(folder / "burst-{n}.pdlz"))
        feed.play(recorders, until=RESTART_AT, marks={4.6: ("dispense reagent B", {"step": 3})})
        feed.restart(recorders)
        feed.play(recorders)
        feed.now = at(DURATION + PRE + POST + 1)  # the stream goes quiet: the last burst must end on its own
        _wait(lambda: len(bursts.bursts) == 2)
        closed_before_stop = len(bursts.bursts)
        result = {
            "folder": folder,
            "everything": everything.stop(),
            "frames": frames.stop(),
            "bursts": bursts.stop_bursts(),
            "closed_before_stop": closed_before_stop,
        }
    finally:
        for r in recorders:
            r.close()
        feed.close()
    return result


def _payloads(path) -> list[bytes]:
    return [e.payload for e in open_log(path)]


def test_frames_are_kept_exactly_inside_the_windows_and_every_other_event_always(recorded):
    expected = kept_by_rule(recorded_script(), frames_only=True)
    assert _payloads(recorded["folder"] / "frames.bin") == [p for _, p in expected]  # in the order received
    summary = recorded["frames"]
    images = [p for _, p in recorded_script() if p[0] >> 3 == 3]
    assert summary.frames_kept == sum(1 for _, p in expected if p[0] >> 3 == 3) > 0
    assert summary.frames_dropped == len(images) - summary.frames_kept > 0
    assert [(round(a - T0 / S, 3), round(b - T0 / S, 3)) for a, b in summary.windows] == [
        ((a - T0) / S, (b - T0) / S) for a, b in windows()
    ]


def test_a_file_per_burst_holds_exactly_its_window_across_a_gateway_restart(recorded):
    files = recorded["bursts"]
    assert [f.path for f in files] == [str(recorded["folder"] / f"burst-{n}.pdlz") for n in (1, 2)]
    assert recorded["closed_before_stop"] == 2  # each ended on its own, once no later move could reach back
    kept = kept_by_rule(recorded_script(), frames_only=False)
    for f, (a, b) in zip(files, windows(), strict=True):
        log = open_log(f.path)
        assert [(e.received_ns, e.payload) for e in log] == [(t, p) for t, p in kept if a <= t <= b + S // 100]
        assert log.has_index and log.truncation is None
    assert files[0].markers == 1 and files[1].reconnects == 1  # the restart happened inside the second burst


def test_trim_afterwards_keeps_what_the_live_modes_kept(recorded, tmp_path):
    folder = recorded["folder"]
    report = trim_log(
        folder / "everything.pdlz", tmp_path / "frames.pdlz", pre_roll=PRE, post_roll=POST, frames_only=True
    )
    assert _payloads(tmp_path / "frames.pdlz") == _payloads(folder / "frames.bin")
    assert report.frames_kept == recorded["frames"].frames_kept
    trim_log(folder / "everything.pdlz", tmp_path / "bursts.pdlz", pre_roll=PRE, post_roll=POST)
    trimmed = [(e.received_ns, e.payload) for e in open_log(tmp_path / "bursts.pdlz")]
    live = [(e.received_ns, e.payload) for f in recorded["bursts"] for e in open_log(f.path)]
    assert trimmed == live
    assert [m.text for m in open_log(tmp_path / "bursts.pdlz").markers()] == ["dispense reagent B"]


def test_markers_land_in_every_recording_with_their_time_and_fields(recorded):
    folder = recorded["folder"]
    for path in ("everything.pdlz", "frames.bin", "burst-1.pdlz"):
        [marker] = open_log(folder / path).markers()
        assert (marker.time_ns, marker.text, marker.fields) == (at(4.6), "dispense reagent B", {"step": 3})
    assert (folder / "frames.bin.pdmeta").exists()  # a classic log keeps them beside it


def test_bursts_refuse_existing_files_and_mode_mixups(recorded, tmp_path):
    folder = recorded["folder"]
    with EventRecorder("ws://127.0.0.1:9", connect_timeout=0.2) as rec:
        with pytest.raises(RecordingFailed, match="burst-1.pdlz and 1 more exists.*--force"):
            rec.start_bursts(str(folder / "burst-{n}.pdlz"))
        with pytest.raises(ValueError, match="must hold \\{n\\}"):
            rec.start_bursts(str(tmp_path / "run.pdlz"))
        with pytest.raises(RecorderStateError, match="not recording"):
            rec.mark("nothing is being recorded")
        with pytest.raises(ValueError, match="JSON"):
            rec.mark("bad", when=object())


def test_a_long_burst_continues_in_the_next_file_without_losing_an_event(tmp_path):
    events = [(t, p) for t, p in script() if t < at(10.0)]
    feed = LockstepFeed(events).start()
    rec = EventRecorder(feed.ws_url, clock=feed.clock, pre_roll=PRE, post_roll=POST, rpc_url="http://127.0.0.1:9/x")
    try:
        feed.wait_for([rec])
        rec.start_bursts(str(tmp_path / "b{n:02d}.bin"), max_segment=1.5)
        feed.play([rec])
        files = rec.stop_bursts()
    finally:
        rec.close()
        feed.close()
    assert [f.path for f in files] == [str(tmp_path / f"b{n:02d}.bin") for n in range(1, len(files) + 1)]
    assert len(files) >= 3  # the 4.5 s window, in files of at most 1.5 s
    expected = [p for _, p in kept_by_rule(events, frames_only=False)]
    assert list(itertools.chain.from_iterable(_payloads(f.path) for f in files)) == expected
