"""Synthetic streams: deterministic, realistic in kinds, sizes and rates, with real JPEG frames."""

from __future__ import annotations

import av
import pytest

from pdlogkit import open_log
from pdlogkit.events import Event
from pdlogkit.synth import FrameRenderer, SynthStream


def test_the_same_seed_gives_the_same_stream_and_another_seed_does_not():
    a = list(SynthStream(3.0, seed=5, frame_size=(320, 240)))
    b = list(SynthStream(3.0, seed=5, frame_size=(320, 240)))
    c = list(SynthStream(3.0, seed=6, frame_size=(320, 240)))
    assert a == b
    assert a != c


def test_kinds_rates_and_sizes_are_those_of_a_real_gateway(synth_log):
    summary = open_log(synth_log).summary()
    rates = summary.rates
    assert rates["active_capacitance"] == pytest.approx(50, rel=0.05)
    assert rates["scan_capacitance"] == pytest.approx(4, rel=0.1)
    assert rates["image"] == pytest.approx(10, rel=0.05)
    assert summary.counts["image_transform"] == summary.counts["image"]
    assert summary.counts["device_info"] == 1
    size = {k: summary.sizes[k] / summary.counts[k] for k in summary.counts}
    assert 100_000 <= size["image"] <= 160_000  # like the real 1024x768 frames
    assert 250 <= size["scan_capacitance"] <= 400
    assert 900 <= size["electrode_state"] <= 1000


def test_electrode_state_and_device_info_carry_no_timestamp(synth_log):
    for event in open_log(synth_log).events(kinds=["electrode_state", "device_info"]):
        assert event.time is None
    state = next(iter(open_log(synth_log).events(kinds=["electrode_state"]))).message.electrode_state
    assert len(state.drive_groups) == 2 and len(state.scan_groups) == 5
    assert all(len(g.electrodes) == 128 for g in [*state.drive_groups, *state.scan_groups])


def test_each_image_follows_its_transform_and_decodes_as_a_jpeg_of_the_board(synth_log):
    events = list(open_log(synth_log).events(kinds=["image", "image_transform"], end=2))
    assert [e.kind for e in events[:4]] == ["image_transform", "image", "image_transform", "image"]
    jpeg = events[1].message.image.image_data
    codec = av.CodecContext.create("mjpeg", "r")
    [frame] = codec.decode(av.Packet(jpeg))
    assert (frame.width, frame.height) == (1024, 768)


def test_the_drop_is_drawn_where_the_electrodes_say():
    renderer = FrameRenderer(320, 240)
    assert renderer.jpeg(34) != renderer.jpeg(35)
    assert renderer.jpeg(34) is renderer.jpeg(34)  # rendered once, reused


def test_timestamps_are_unix_time_from_the_chosen_start():
    first_timed = next(Event(p) for _, p in SynthStream(1.0, camera=False, start_ns=10**18) if Event(p).time)
    assert 1e9 <= first_timed.time <= 1e9 + 0.1


def test_a_live_synthetic_gateway_answers_its_control_api_so_recordings_describe_themselves(tmp_path):
    import json
    import time
    import urllib.request

    from pdlogkit import EventRecorder
    from pdlogkit.synth import DEVICE_INFO, SynthGateway, board_definition

    with SynthGateway() as gateway:
        body = json.dumps({"jsonrpc": "2.0", "method": "get_board_definition", "params": [], "id": 1}).encode()
        with urllib.request.urlopen(urllib.request.Request(gateway.rpc_url, body), timeout=10) as answer:
            assert json.load(answer)["result"] == board_definition()
        unknown = json.dumps({"jsonrpc": "2.0", "method": "move_drops", "params": [], "id": 2}).encode()
        with urllib.request.urlopen(urllib.request.Request(gateway.rpc_url, unknown), timeout=10) as answer:
            assert "error" in json.load(answer)
        with EventRecorder(gateway.ws_url, rpc_url=gateway.rpc_url) as rec, rec.recording(tmp_path / "r.pdlz"):
            time.sleep(1.5)
    with open_log(tmp_path / "r.pdlz") as log:
        assert log.metadata["board"] == board_definition()
        assert log.metadata["device_info"] == DEVICE_INFO
