"""EventRecorder: what a scientist's script relies on, against real websocket servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from pdlogkit import (
    AsyncEventRecorder,
    EventRecorder,
    GatewayUnreachable,
    RecorderStateError,
    RecordingFailed,
    open_log,
)
from pdlogkit import schema as pb
from pdlogkit.files.classic import ClassicReader
from pdlogkit.formats.classic import encode_record
from pdlogkit.synth import SynthGateway


@pytest.fixture
def gateway():
    """A live synthetic gateway with small camera frames (cheap on CI)."""
    with SynthGateway(frame_size=(320, 240)) as gw:
        yield gw


class ScriptedGateway:
    """A real websocket server that sends each new client the given payloads, then stays open."""

    def __init__(self, payloads: list[bytes]) -> None:
        self.payloads = payloads
        self._synth = SynthGateway()  # only for its background loop and port handling

    async def _handle(self, ws) -> None:
        for payload in self.payloads:
            await ws.send(payload)
        await ws.wait_closed()

    def __enter__(self) -> ScriptedGateway:
        from websockets.asyncio.server import serve

        from pdlogkit._loop import BackgroundLoop

        self._loop = BackgroundLoop("scripted-gateway")

        async def start():
            return await serve(self._handle, "127.0.0.1", 0, max_size=None, compression=None)

        self._server = self._loop.run(start(), timeout=10)
        self.ws_url = f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    def __exit__(self, *exc) -> None:
        async def stop():
            self._server.close()
            await self._server.wait_closed()

        self._loop.run(stop(), timeout=10)
        self._loop.close()


def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_three_segments_from_one_script_like_the_scientists_use(gateway, tmp_path):
    rec = EventRecorder(gateway.ws_url)
    summaries = []
    for i in range(3):
        rec.start(tmp_path / f"log{i}.bin")
        time.sleep(0.6)
        summaries.append(rec.stop())
        time.sleep(0.3)
    rec.close()
    for i, summary in enumerate(summaries):
        events = list(open_log(tmp_path / f"log{i}.bin"))
        assert summary.events == len(events) > 20
        assert summary.bytes == sum(len(e.payload) for e in events)
        assert summary.counts["active_capacitance"] > 10
        assert summary.first_time <= summary.last_time
        assert summary.reconnects == 0 and summary.gaps == []
        for event in events:
            event.message  # every recorded payload parses


def test_nothing_is_missed_between_segments_cut_by_rotate(gateway, tmp_path):
    with EventRecorder(gateway.ws_url, include={"active_capacitance"}) as rec:
        rec.start(tmp_path / "a.bin")
        time.sleep(0.5)
        first = rec.rotate(tmp_path / "b.bin")
        time.sleep(0.5)
        second = rec.stop()
    times = [e.time_ns for name in ("a.bin", "b.bin") for e in open_log(tmp_path / name)]
    assert first.events > 0 and second.events > 0
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) < 0.1e9  # 50 events/s: no hole at the cut


def test_pre_roll_keeps_the_seconds_before_start(gateway, tmp_path):
    with EventRecorder(gateway.ws_url, pre_roll=1.0) as rec:
        time.sleep(1.5)
        rec.start(tmp_path / "seg.bin")
        summary = rec.stop()
    assert summary.pre_roll_events > 30
    assert summary.first_time < summary.started - 0.7  # about a second before start()
    assert summary.first_time > summary.started - 1.3  # and not more than the pre-roll
    assert summary.events == len(list(open_log(tmp_path / "seg.bin")))


def test_pre_roll_is_bounded_in_bytes_too(gateway, tmp_path):
    with EventRecorder(gateway.ws_url, pre_roll=30.0, pre_roll_max_bytes=20_000) as rec:
        time.sleep(1.0)
        rec.start(tmp_path / "seg.bin")
        summary = rec.stop()
    pre = list(open_log(tmp_path / "seg.bin"))[: summary.pre_roll_events]
    assert 0 < sum(len(e.payload) for e in pre) <= 20_000


def test_exclude_images_keeps_sensors_and_drops_camera_frames(gateway, tmp_path):
    with (
        EventRecorder(gateway.ws_url, exclude={"image", "image_transform"}) as rec,
        rec.recording(tmp_path / "sensors.bin") as segment,
    ):
        time.sleep(0.8)
    kinds = {e.kind for e in open_log(tmp_path / "sensors.bin")}
    assert "image" not in kinds and "image_transform" not in kinds
    assert "active_capacitance" in kinds
    assert segment.summary is not None and segment.summary.events > 0


def test_include_keeps_only_the_named_kinds(gateway, tmp_path):
    with EventRecorder(gateway.ws_url, include=["image"]) as rec, rec.recording(tmp_path / "frames.bin"):
        time.sleep(0.8)
    assert {e.kind for e in open_log(tmp_path / "frames.bin")} == {"image"}


def test_an_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown event kind.*imgae"):
        EventRecorder("ws://127.0.0.1:1", exclude={"imgae"})


def test_a_gateway_restart_mid_segment_is_a_counted_gap_not_the_end(gateway, tmp_path):
    with EventRecorder(gateway.ws_url) as rec:
        rec.start(tmp_path / "seg.bin")
        time.sleep(0.5)
        gateway.restart(downtime=0.5)
        _wait_for(lambda: rec.connected and rec.status().reconnects == 1)
        time.sleep(0.5)
        summary = rec.stop()
    assert summary.reconnects == 1
    assert len(summary.gaps) == 1
    assert 0.4 < summary.gap_seconds < summary.stopped - summary.started  # the downtime, not the segment
    assert summary.events == len(list(open_log(tmp_path / "seg.bin")))


def test_stop_returns_promptly_when_the_gateway_is_gone(gateway, tmp_path):
    rec = EventRecorder(gateway.ws_url)
    rec.start(tmp_path / "seg.bin")
    time.sleep(0.3)
    gateway.__exit__(None, None, None)  # the gateway goes away for good
    _wait_for(lambda: not rec.connected)
    time.sleep(0.5)  # the recorder is now retrying with backoff
    # stop() must not wait out the reconnect backoff: run it with a hang guard (a daemon thread, so a hang
    # fails this test instead of the interpreter's exit).
    stopped: concurrent.futures.Future = concurrent.futures.Future()

    def stop() -> None:
        try:
            stopped.set_result(rec.stop())
        except BaseException as exc:
            stopped.set_exception(exc)

    threading.Thread(target=stop, daemon=True).start()
    summary = stopped.result(timeout=60)
    assert summary.events > 0 and summary.gaps
    rec.close()
    gateway.__enter__()  # let the fixture tear down normally


def test_start_raises_gateway_unreachable_and_the_recorder_stays_usable(tmp_path):
    rec = EventRecorder("ws://127.0.0.1:9", connect_timeout=0.5)
    with pytest.raises(GatewayUnreachable, match="ws://127.0.0.1:9"):
        rec.start(tmp_path / "seg.bin")
    assert not (tmp_path / "seg.bin").exists()
    with pytest.raises(RecorderStateError, match="not recording"):
        rec.stop()
    rec.close()


def test_calls_in_the_wrong_state_are_clear_errors_and_harmless(gateway, tmp_path):
    rec = EventRecorder(gateway.ws_url)
    with pytest.raises(RecorderStateError, match="not recording"):
        rec.stop()
    rec.start(tmp_path / "a.bin")
    with pytest.raises(RecorderStateError, match="already recording"):
        rec.start(tmp_path / "b.bin")
    summary = rec.stop()
    assert summary.path.endswith("a.bin") and not (tmp_path / "b.bin").exists()
    rec.start(tmp_path / "c.bin")  # still usable
    time.sleep(0.3)
    assert rec.stop().events > 0
    rec.close()
    rec.close()  # closing twice is fine
    with pytest.raises(RecorderStateError, match="closed"):
        rec.start(tmp_path / "d.bin")


def test_disk_full_is_raised_at_the_next_call_with_what_was_written(gateway, tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    rec = EventRecorder(gateway.ws_url)
    rec.start("/dev/full")  # every write fails with ENOSPC, like a full disk
    time.sleep(1.2)
    with pytest.raises(RecordingFailed, match="No space left on device") as info:
        rec.stop()
    assert info.value.summary is not None
    rec.start(tmp_path / "after.bin")  # the recorder is usable again
    time.sleep(0.3)
    assert rec.stop().events > 0
    rec.close()


def test_permission_denied_is_a_clear_error(gateway, tmp_path):
    if os.geteuid() == 0:
        target = "/sys/kernel/notes"  # read-only even for root
        try:
            open(target, "ab").close()
            pytest.skip("no path refuses root's writes here")
        except PermissionError:
            pass
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = str(locked / "seg.bin")
    with EventRecorder(gateway.ws_url) as rec:
        with pytest.raises(RecordingFailed, match="cannot open"):
            rec.start(target)
        rec.start(tmp_path / "ok.bin")
        rec.stop()


def test_camera_frames_of_several_megabytes_are_recorded_byte_for_byte(tmp_path):
    big = pb.PurpleDropEvent(
        image=pb.Image(timestamp=pb.Timestamp(seconds=1), image_data=os.urandom(3 * 1024 * 1024))
    ).SerializeToString()
    small = pb.PurpleDropEvent(device_info=pb.DeviceInfo(connected=True)).SerializeToString()
    with ScriptedGateway([small, big, small]) as gw, EventRecorder(gw.ws_url, pre_roll=5.0) as rec:
        _wait_for(lambda: rec.status().received == 3)
        rec.start(tmp_path / "big.bin")
        summary = rec.stop()
    assert summary.events == 3 and summary.reconnects == 0
    assert (tmp_path / "big.bin").read_bytes() == b"".join(encode_record(p) for p in (small, big, small))


def test_context_managers_close_everything(gateway, tmp_path):
    with EventRecorder(gateway.ws_url) as rec:
        with rec.recording(tmp_path / "seg.bin") as segment:
            time.sleep(0.3)
        assert not rec.is_recording
    assert segment.summary is not None and segment.summary.events > 0
    assert segment.summary.path == str(tmp_path / "seg.bin")


def test_closing_with_a_segment_open_stops_and_syncs_it(gateway, tmp_path):
    rec = EventRecorder(gateway.ws_url)
    rec.start(tmp_path / "seg.bin")
    time.sleep(0.3)
    summary = rec.close()
    assert summary is not None and summary.events == len(list(open_log(tmp_path / "seg.bin")))


def test_the_async_twin_behaves_the_same_without_a_thread(tmp_path):
    async def scenario():
        async with SynthGateway(frame_size=(320, 240)) as gw, AsyncEventRecorder(gw.ws_url, pre_roll=0.5) as rec:
            await asyncio.sleep(0.7)
            async with rec.recording(tmp_path / "a.bin") as segment:
                await asyncio.sleep(0.5)
            with pytest.raises(RecorderStateError):
                await rec.stop()
            return segment.summary

    summary = asyncio.run(scenario())
    assert summary.events == len(list(open_log(tmp_path / "a.bin"))) > 20
    assert summary.pre_roll_events > 0


SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pdlogkit.record import EventRecorder
    rec = EventRecorder(sys.argv[1])
    rec.start(sys.argv[2])
    print("recording", flush=True)
    time.sleep(60)
    """
)


def test_a_recorder_killed_with_sigkill_leaves_a_file_whose_records_read_back(gateway, tmp_path):
    path = tmp_path / "killed.bin"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, gateway.ws_url, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "recording"

    def on_disk() -> int:
        return len(list(ClassicReader(path, warn=False))) if path.exists() else 0

    # Records reach the disk while the recorder runs (it flushes by itself,
    # no stop needed); whatever reached it survives the SIGKILL.
    _wait_for(lambda: on_disk() > 100, timeout=30.0)
    flushed = on_disk()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    events = list(ClassicReader(path, warn=False))
    assert len(events) >= flushed
    for event in events:
        event.message  # every complete record parses


def test_pre_roll_never_holds_events_older_than_its_length(tmp_path):
    payloads = [pb.PurpleDropEvent(device_info=pb.DeviceInfo(connected=True)).SerializeToString()] * 3
    with ScriptedGateway(payloads) as gw, EventRecorder(gw.ws_url, pre_roll=0.5) as rec:
        _wait_for(lambda: rec.status().received == 3)
        time.sleep(1.0)  # the gateway goes quiet: the buffered events grow old
        rec.start(tmp_path / "seg.bin")
        summary = rec.stop()
    assert summary.pre_roll_events == 0 and summary.events == 0


def test_pre_roll_survives_a_gateway_restart(gateway, tmp_path):
    with EventRecorder(gateway.ws_url, pre_roll=3.0) as rec:
        time.sleep(1.0)
        gateway.restart(downtime=0.2)
        _wait_for(lambda: rec.connected and rec.status().reconnects == 1)
        rec.start(tmp_path / "seg.bin")
        summary = rec.stop()
    assert summary.first_time < summary.started - 1.0  # the seconds before the restart are kept


def test_a_rotate_to_an_unopenable_path_still_closes_the_segment_it_ended(gateway, tmp_path):
    with EventRecorder(gateway.ws_url) as rec:
        rec.start(tmp_path / "a.bin")
        time.sleep(0.5)
        with pytest.raises(RecordingFailed, match="cannot open") as info:
            rec.rotate(tmp_path / "missing" / "b.bin")
        assert not rec.is_recording
    ended = info.value.summary
    assert ended is not None and ended.path == str(tmp_path / "a.bin")
    assert ended.events == len(list(open_log(tmp_path / "a.bin"))) > 0


def test_a_failing_on_event_callback_does_not_cost_the_connection(gateway, tmp_path):
    calls = []

    def callback(event):
        calls.append(event.kind)
        if len(calls) == 5:
            raise RuntimeError("my bug")

    with EventRecorder(gateway.ws_url, on_event=callback) as rec:
        with pytest.warns(RuntimeWarning, match="on_event callback failed"):
            rec.start(tmp_path / "seg.bin")
            time.sleep(1.0)
        summary = rec.stop()
    assert len(calls) == 5  # disabled after its error
    assert summary.reconnects == 0 and summary.gaps == []
    assert summary.events > 50


def test_close_raises_a_background_error_not_yet_reported(gateway):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    rec = EventRecorder(gateway.ws_url)
    rec.start("/dev/full")
    time.sleep(1.5)
    with pytest.raises(RecordingFailed, match="No space left"):
        rec.close()
    assert not rec.connected


EXIT_WITHOUT_STOP = textwrap.dedent(
    """
    import sys, time
    from pdlogkit import EventRecorder
    rec = EventRecorder(sys.argv[1])
    rec.start(sys.argv[2])
    time.sleep(1.0)
    print(rec.status().segment_events, flush=True)
    # the script ends without stop() or close(): the recorder must close the segment itself
    """
)


@pytest.mark.parametrize("name", ["forgot.bin", "forgot.pdlz"])
def test_a_script_that_ends_without_stop_leaves_a_complete_log(gateway, tmp_path, name):
    path = tmp_path / name
    result = subprocess.run(
        [sys.executable, "-c", EXIT_WITHOUT_STOP, gateway.ws_url, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    recorded_before_exit = int(result.stdout)
    log = open_log(path)
    events = list(log)
    assert len(events) >= recorded_before_exit > 0  # nothing queued was lost at exit
    assert log.truncation is None
    if name.endswith(".pdlz"):
        assert log.has_index  # closed properly: the index was written
