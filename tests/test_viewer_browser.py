"""The viewer page in a real headless Chromium (Debian's), driven by Playwright, against real replays.

One browser for the module, a fresh page per test. The page talks to the replay only
through its public interfaces (the websocket stream and JSON-RPC), as any client does.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from viewer_data import driven, frame_id, shown_at, synth_board, write_marked_log

from pdlogkit import schema as pb
from pdlogkit.boards import load_board, shipped_boards
from pdlogkit.replay import ReplayServer
from pdlogkit.replay.pages import viewer_app
from pdlogkit.synth import SynthGateway

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser tests need Playwright: pip install -e '.[test]'"
)

#: Where a Chromium may be: $PDLOGKIT_CHROMIUM, else Debian's package, else one on the PATH.
CHROMIUM = [os.environ.get("PDLOGKIT_CHROMIUM", ""), "/usr/bin/chromium", "chromium", "chromium-browser"]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: Longest a test waits for the page to show something (a busy 2-core machine is slow, never wrong).
WAIT_MS = 30_000


def chromium() -> str | None:
    for candidate in CHROMIUM:
        found = candidate and (shutil.which(candidate) or (os.path.isfile(candidate) and candidate))
        if found:
            return str(found)
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium to run the viewer in: apt-get install chromium (.ci/run installs it)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        yield browser
        browser.close()


class Viewer:
    """A page of the browser showing a viewer, and what its console said."""

    def __init__(self, browser: Any, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.goto(url)

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def wait(self, expression: str, arg: Any = None) -> None:
        """Wait until a JavaScript expression (a function of `arg`) is true in the page."""
        self.page.wait_for_function(expression, arg=arg, timeout=WAIT_MS)

    def frame(self) -> str | None:
        """The `data-timestamp` of the camera frame shown (None: none)."""
        return self.js("() => { const f = document.getElementById('frame'); return f.hidden ? null : "
                       "(f.dataset.timestamp || null) }")  # fmt: skip

    def driven(self) -> list[int]:
        return sorted(self.js("() => [...document.querySelectorAll('g.electrode.driven')].map(g => +g.dataset.pin)"))

    def wait_for_frame_change(self, than: str | None) -> str:
        self.wait("(old) => { const f = document.getElementById('frame'); return !f.hidden && "
                  "f.complete && f.naturalWidth > 0 && f.dataset.timestamp && f.dataset.timestamp !== old }",
                  than)  # fmt: skip
        frame = self.frame()
        assert frame is not None
        return frame

    def wait_for_state(self, state: str) -> None:
        self.wait("(s) => document.getElementById('state').dataset.state === s", state)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_viewer(browser: Any) -> Iterator[Any]:
    pages: list[Viewer] = []

    def open_page(url: str) -> Viewer:
        pages.append(Viewer(browser, url))
        return pages[-1]

    yield open_page
    for page in pages:
        page.close()


@pytest.fixture(scope="module")
def marked_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s with a small camera (320x240), the synthetic board in its metadata, markers at 4 s and 9 s."""
    folder = tmp_path_factory.mktemp("viewer")
    return write_marked_log(folder / "run.pdlz", 12.0, {4.0: "dispense", 9.0: "mix"}, seed=4, frame_size=(320, 240))


def wait_until(condition: Any, what: str, timeout: float = WAIT_MS / 1000) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_page_loads_without_console_errors_and_shows_the_log_playing(open_viewer, marked_log):
    with ReplayServer(marked_log, wait=True) as server:
        viewer = open_viewer(server.http_url + "/")
        viewer.wait("() => document.getElementById('log-name').textContent === 'run.pdlz'")
        first = viewer.wait_for_frame_change(None)
        viewer.wait_for_frame_change(first)  # frames keep coming while playing
        assert viewer.js("() => document.querySelectorAll('g.electrode').length") == 128
        viewer.wait("() => document.querySelectorAll('g.electrode.driven').length === 1")
        viewer.wait("() => /1 client/.test(document.getElementById('clients').textContent)")
        # The plots scroll with the readings; the board takes its colours from the scan capacitance.
        viewer.wait("() => ['active', 'group', 'temperature'].every(p => "
                    "+document.getElementById('plot-' + p).dataset.samples > 0)")  # fmt: skip
        viewer.wait("() => [...document.querySelectorAll('g.electrode')].some(g => g.style.fill)")
        viewer.wait("() => document.querySelectorAll('.marker').length === 2")
        viewer.wait("() => document.querySelectorAll('.period').length > 0")
        assert "0:12.0" in viewer.js("() => document.getElementById('position').textContent")
        assert viewer.js("() => document.getElementById('banner').hidden")
    assert viewer.errors == []


def test_the_frame_stops_changing_when_paused_and_space_plays_again(open_viewer, marked_log):
    with ReplayServer(marked_log, wait=True) as server:
        viewer = open_viewer(server.http_url + "/")
        viewer.wait_for_frame_change(None)
        viewer.page.keyboard.press(" ")
        viewer.wait_for_state("paused")
        assert server.status()["paused"]
        position = server.status()["time"]

        def settled() -> Any:  # frames already on their way when the pause came are shown first
            before = viewer.frame()
            time.sleep(0.5)
            return before if viewer.frame() == before else None

        paused_at = wait_until(settled, "the frame to settle after the pause")
        time.sleep(1.5)
        assert viewer.frame() == paused_at and server.status()["time"] == position
        viewer.page.keyboard.press(" ")
        viewer.wait_for_state("playing")
        viewer.wait_for_frame_change(paused_at)
    assert viewer.errors == []


def test_seeking_shows_the_frame_and_electrodes_of_that_time(open_viewer, marked_log):
    with ReplayServer(marked_log, paused=True) as server:
        viewer = open_viewer(server.http_url + "/")
        viewer.wait_for_state("paused")
        frame, state = shown_at(marked_log, 0.0)
        viewer.wait("(ids) => (document.getElementById('frame').dataset.timestamp || null) === ids", frame_id(frame))
        bar = viewer.page.locator("#seekbar .track").bounding_box()
        for fraction in (0.62, 0.27):  # forwards, then back
            before = server.status()["time"]
            viewer.page.mouse.click(bar["x"] + bar["width"] * fraction, bar["y"] + bar["height"] / 2)
            t = wait_until(lambda: server.status()["time"] != before and server.status()["time"], "the seek")  # noqa: B023
            assert t == pytest.approx(fraction * server.status()["duration"], abs=0.05)
            frame, state = shown_at(marked_log, t)
            assert frame is not None and state is not None
            viewer.wait("(id) => document.getElementById('frame').dataset.timestamp === id", frame_id(frame))
            viewer.wait("(pins) => JSON.stringify([...document.querySelectorAll('g.electrode.driven')]"
                        ".map(g => +g.dataset.pin).sort((a, b) => a - b)) === JSON.stringify(pins)",
                        driven(state))  # fmt: skip
            assert viewer.driven() == driven(state)
            assert server.status()["paused"]
        # The arrow keys step 5 s.
        viewer.page.keyboard.press("ArrowRight")
        wait_until(lambda: server.status()["time"] == pytest.approx(t + 5, abs=0.3), "a step of 5 s")
        # A seek made by another client (a script, the terminal) shows too.
        server.seek(10.5)
        frame, state = shown_at(marked_log, 10.5)
        viewer.wait("(id) => document.getElementById('frame').dataset.timestamp === id", frame_id(frame))
        viewer.wait("(pins) => JSON.stringify([...document.querySelectorAll('g.electrode.driven')]"
                    ".map(g => +g.dataset.pin).sort((a, b) => a - b)) === JSON.stringify(pins)",
                    driven(state))  # fmt: skip
    assert viewer.errors == []


def test_a_marker_on_the_seek_bar_jumps_to_its_time(open_viewer, marked_log):
    with ReplayServer(marked_log, paused=True) as server:
        viewer = open_viewer(server.http_url + "/")
        viewer.wait("() => document.querySelectorAll('.marker').length === 2")
        markers = viewer.page.locator(".marker")
        assert "mix" in markers.nth(1).get_attribute("title")
        markers.nth(1).click()
        wait_until(lambda: abs(server.status()["time"] - 9.0) < 1e-6, "the seek to the marker at 9 s")
        frame, state = shown_at(marked_log, 9.0)
        viewer.wait("(id) => document.getElementById('frame').dataset.timestamp === id", frame_id(frame))
        assert viewer.driven() == driven(state)
        viewer.page.keyboard.press("[")  # the marker before
        wait_until(lambda: abs(server.status()["time"] - 4.0) < 1e-6, "the seek to the marker at 4 s")
    assert viewer.errors == []


def test_the_page_survives_the_replay_restarting(open_viewer, marked_log, tmp_path):
    other = tmp_path / "second.pdlz"
    shutil.copy(marked_log, other)
    server = ReplayServer(marked_log, wait=True, loop=True)
    with server:
        viewer = open_viewer(server.http_url + "/")
        shown = viewer.wait_for_frame_change(None)
        ports = {"ws_port": server.ws_port, "http_port": server.http_port}
    viewer.wait("() => !document.getElementById('banner').hidden")
    assert "not reachable" in viewer.js("() => document.getElementById('banner').textContent")
    assert viewer.js("() => document.getElementById('connection').textContent") == "disconnected"
    with ReplayServer(other, wait=True, **ports):
        viewer.wait("() => document.getElementById('banner').hidden")
        viewer.wait("() => document.getElementById('log-name').textContent === 'second.pdlz'")
        viewer.wait_for_frame_change(shown)
        viewer.wait_for_state("playing")


def test_a_screenshot_shows_the_camera_the_board_and_the_plots(open_viewer, marked_log):
    np = pytest.importorskip("numpy")
    import av

    with ReplayServer(marked_log, wait=True) as server:
        viewer = open_viewer(server.http_url + "/")
        viewer.wait_for_frame_change(None)
        viewer.wait("() => document.querySelectorAll('g.electrode.driven').length === 1")
        viewer.wait("() => +document.getElementById('plot-active').dataset.samples > 20")
        png = viewer.page.screenshot()
        boxes = {
            name: viewer.page.locator(selector).bounding_box()
            for name, selector in (("frame", "#frame"), ("board", "#board"), ("plot", "#plot-active"))
        }
    with av.open(io.BytesIO(png)) as container:
        pixels = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert pixels.shape[:2] == (900, 1400)

    def region(name: str) -> Any:
        b = boxes[name]
        return pixels[int(b["y"]) : int(b["y"] + b["height"]), int(b["x"]) : int(b["x"] + b["width"])]

    def colours(area: Any) -> int:
        return len(np.unique(area.reshape(-1, 3), axis=0))

    assert colours(region("frame")) > 500  # a camera picture, not a flat box
    assert pixels.std() > 20
    # The driven electrode's outline in the highlight colour (#ff4d2e), and the plot's line (#4e9af1).
    assert (np.abs(region("board").astype(int) - (255, 77, 46)).sum(axis=2) < 40).sum() > 50
    assert (np.abs(region("plot").astype(int) - (78, 154, 241)).sum(axis=2) < 60).sum() > 50


def test_a_real_board_shows_as_many_electrodes_as_its_definition_holds(open_viewer, marked_log):
    board = load_board("misl_v6")
    with ReplayServer(marked_log, paused=True, board="misl_v6") as server:
        viewer = open_viewer(server.http_url + "/")
        viewer.wait("() => document.querySelectorAll('g.electrode').length > 0")
        pins = viewer.js("() => [...document.querySelectorAll('g.electrode')].map(g => +g.dataset.pin)")
        polygons = viewer.js("() => document.querySelectorAll('g.electrode polygon').length")
    assert sorted(pins) == board.pins
    assert polygons == sum(len(e.outlines) for e in board.electrodes.values())
    assert viewer.errors == []


def test_the_page_draws_every_shipped_board_as_pdlogkit_boards_does(open_viewer, marked_log):
    with ReplayServer(marked_log, paused=True) as server:
        viewer = open_viewer(server.http_url + "/")
        for name in shipped_boards():
            board = load_board(name)
            drawn = viewer.js(
                "async (d) => { const m = await import(new URL('/board.js', location.href).href); "
                "return [...m.electrodeOutlines(d).entries()]; }",
                board.gateway_definition(),
            )
            assert [pin for pin, _ in drawn] == board.pins, name
            for pin, outlines in drawn:
                expected = board.electrodes[pin].outlines
                assert len(outlines) == len(expected), (name, pin)
                for got, want in zip(outlines, expected, strict=True):
                    assert [tuple(p) for p in got] == [pytest.approx(p, abs=1e-9) for p in want], (name, pin)


def _wire_fields(message: Any, skip: frozenset[str] = frozenset({"qr_codes"})) -> dict[str, Any]:
    """A message as the page's decoder gives it: every field, defaults included, bytes as hex."""

    def value(field: Any, v: Any) -> Any:
        if field.message_type is not None:
            return _wire_fields(v)
        if field.type == field.TYPE_BYTES:
            return v.hex()
        return v

    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        if field.name in skip:
            continue
        v = getattr(message, field.name)
        # protobuf 6 and later name it is_repeated (`label` is gone); 5 has only `label`.
        if getattr(field, "is_repeated", None) or getattr(field, "label", None) == field.LABEL_REPEATED:
            out[field.name] = [value(field, x) for x in v]
        elif field.message_type is not None:
            out[field.name] = _wire_fields(v) if message.HasField(field.name) else None
        else:
            out[field.name] = value(field, v)
    return out


def test_the_pages_decoder_reads_every_kind_as_protobuf_does(open_viewer, marked_log, synth_log):
    from pdlogkit import open_log

    samples: dict[str, bytes] = {}
    with open_log(synth_log) as log:
        for event in log.events():
            samples.setdefault(event.kind, event.payload if event.kind != "image" else b"")
    ts = pb.Timestamp(seconds=1_767_225_600, nanos=999_999_999)
    made = [
        pb.PurpleDropEvent(image=pb.Image(timestamp=ts, image_data=b"\xff\xd8 tiny \xff\xd9")),
        pb.PurpleDropEvent(image_transform=pb.ImageTransform(image_width=-1, image_height=2**31 - 1)),
        pb.PurpleDropEvent(electrode_state=pb.ElectrodeState(electrodes=[True, False, True])),
        pb.PurpleDropEvent(device_info=pb.DeviceInfo(connected=True, serial_number="Ünï-0001", software_version="")),
        pb.PurpleDropEvent(hv_regulator=pb.HvRegulator(voltage=-3.5, timestamp=ts)),
        pb.PurpleDropEvent(duty_cycle_updated=pb.DutyCycleUpdated(duty_cycles=[0, 255, 2**32 - 1])),
        pb.PurpleDropEvent(electrode_layout=pb.ElectrodeLayout(layout="grid")),
        pb.PurpleDropEvent(settings=pb.Settings(frequency=500.0)),
    ]
    payloads = [p for p in samples.values() if p] + [m.SerializeToString() for m in made]
    # Unpacked repeated fields (older writers) and an unknown field are read too: bools 1, 0, 1 one by one,
    # then field 15 (varint) that the schema does not have.
    unpacked = bytes([0x12, 0x08, 0x10, 0x01, 0x10, 0x00, 0x10, 0x01, 0x78, 0x05])
    payloads.append(unpacked)
    with ReplayServer(marked_log, paused=True) as server:
        viewer = open_viewer(server.http_url + "/")
        decoded = viewer.js(
            "async (payloads) => { const w = await import(new URL('/wire.js', location.href).href); "
            "const plain = (v) => v instanceof Uint8Array ? [...v].map(b => b.toString(16).padStart(2, '0'))"
            ".join('') : Array.isArray(v) ? v.map(plain) : v && typeof v === 'object' ? Object.fromEntries("
            "Object.entries(v).map(([k, x]) => [k, plain(x)])) : v; "
            "return payloads.map(p => plain(w.decodeEvent(Uint8Array.from(p)))); }",
            [list(p) for p in payloads],
        )
        broken = viewer.js(
            "async (p) => { const w = await import(new URL('/wire.js', location.href).href); "
            "try { w.decodeEvent(Uint8Array.from(p)); return 'decoded'; } catch (e) { "
            "return e instanceof w.WireError ? e.message : 'not a WireError: ' + e; } }",
            list(samples["scan_capacitance"][:-7]),
        )
    for payload, got in zip(payloads, decoded, strict=True):
        event = pb.PurpleDropEvent.FromString(payload)
        kind = event.WhichOneof("msg")
        assert got["kind"] == kind
        assert got["message"] == _wire_fields(getattr(event, kind)), kind
    assert "past the end" in broken or "truncated" in broken


class _GatewayControl(BaseHTTPRequestHandler):
    """A live gateway's control API as the page meets it: its read-only methods, none of the replay's, and
    the viewer's files as its web UI."""

    viewer = viewer_app()

    def do_GET(self) -> None:
        page = self.viewer.get(self.path.split("?")[0])
        self._answer(200 if page else 404, page.body if page else b"", page.content_type if page else "text/plain")

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        methods = {
            "get_board_definition": synth_board(),
            "get_electrode_pins": {"drive_groups": [{"pins": [False] * 128, "duty_cycle": 0}] * 2, "scan_groups": []},
            "get_scan_capacitance": {"raw": [], "calibrated": []},
        }
        if request["method"] in methods:
            answer = {"jsonrpc": "2.0", "result": methods[request["method"]], "id": request["id"]}
        else:
            answer = {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": request["id"]}
        self._answer(200, json.dumps(answer).encode(), "application/json")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_the_page_watches_a_live_gateway_without_the_replays_methods(open_viewer):
    http = ThreadingHTTPServer(("127.0.0.1", 0), _GatewayControl)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        with SynthGateway(frame_size=(320, 240), seed=2) as gateway:
            viewer = open_viewer(f"http://127.0.0.1:{http.server_address[1]}/?ws={gateway.ws_url}")
            first = viewer.wait_for_frame_change(None)
            viewer.wait_for_frame_change(first)
            viewer.wait("() => document.getElementById('log-name').textContent === 'live gateway'")
            viewer.wait("() => document.getElementById('controls').classList.contains('live')")
            assert viewer.js("() => document.querySelectorAll('g.electrode').length") == 128
            viewer.wait("() => document.querySelectorAll('g.electrode.driven').length === 1")
            viewer.wait("() => +document.getElementById('plot-active').dataset.samples > 0")
            assert not viewer.page.locator("#seekbar").is_visible()
    finally:
        http.shutdown()
        http.server_close()
    assert viewer.errors == []
