"""Realistic synthetic gateway streams, for tests, benchmarks and the demo.

A deterministic, seedable stream with the kinds, sizes and rates of a real
PurpleDrop on hardware: active_capacitance at 50/s, scan_capacitance at 4/s with
128 measurements, group capacitance, duty cycles, temperatures, the HV regulator,
electrode_state on every drop move (without a timestamp, as the gateway sends it),
device_info at the start, and a camera: an image_transform + image pair per frame
whose image is a real 1024x768 JPEG of an electrode grid with the drop where the
electrode_state events put it. A few frames are rendered and reused, so an hour
of stream is written in seconds.

    write_log("run.bin", duration=60)                  # a file
    async with SynthGateway() as gw: ... gw.ws_url     # a live gateway on 127.0.0.1

By default the drop moves every 1.5 s. In experiment mode (`experiment=Experiment()`)
long idle stretches alternate with bursts of drop movement, as in a real
experiment, so activity has something to find.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from . import schema as pb
from ._loop import BackgroundLoop, LoopService

ELECTRODES = 128
#: What the synthetic gateway's get_device_info answers (and its stream's device_info event says).
DEVICE_INFO: dict[str, Any] = {"connected": True, "serial_number": "SYNTH-0001", "software_version": "synth 1.0"}
GRID_COLUMNS, GRID_ROWS = 16, 8
#: 2026-01-01T00:00:00Z: the default start of a synthetic log, so files are reproducible.
DEFAULT_START_NS = 1_767_225_600 * 1_000_000_000

# The drop's path: a loop around the middle of the board, one electrode per move.
_PATH = (
    [(c, 2) for c in range(2, 14)]
    + [(13, r) for r in range(3, 6)]
    + [(c, 5) for c in range(12, 1, -1)]
    + [(2, r) for r in range(4, 2, -1)]
)


@dataclass(frozen=True)
class Rates:
    """Events per second of each periodic kind (hardware-like defaults)."""

    active_capacitance: float = 50.0
    scan_capacitance: float = 4.0
    group_capacitance: float = 10.0
    duty_cycle_updated: float = 5.0
    temperature_control: float = 1.0
    hv_regulator: float = 0.4


@dataclass(frozen=True)
class Experiment:
    """The rhythm of an experiment: idle stretches, then a burst of drop moves (a protocol's worth).

    Each idle stretch lasts from half to one and a half times `idle` seconds (seeded);
    a burst is `moves` moves, `move_every` seconds apart. The defaults make about 5% of
    an hour active (with 5 s before and 10 s after each burst).
    """

    idle: float = 500.0
    moves: int = 30
    move_every: float = 0.5
    #: Seconds before the first burst (default: one idle stretch).
    first_idle: float | None = None

    def __post_init__(self) -> None:
        if not (self.idle > 0 and self.moves >= 1 and self.move_every > 0) or (
            self.first_idle is not None and self.first_idle < 0
        ):
            raise ValueError("an experiment needs idle > 0, moves >= 1, move_every > 0 and first_idle >= 0")

    def bursts(self, duration: float, seed: int = 0) -> list[tuple[float, float]]:
        """(first move, last move) of each burst, in seconds from the start, within `duration`."""
        rnd = random.Random(seed ^ 0x5EED)
        found = []
        t = self.first_idle if self.first_idle is not None else self.idle * rnd.uniform(0.5, 1.5)
        while t <= duration:
            last = t + (self.moves - 1) * self.move_every
            found.append((t, min(last, t + math.floor((duration - t) / self.move_every) * self.move_every)))
            t = last + self.idle * rnd.uniform(0.5, 1.5)
        return found

    def moves_in(self, duration: float, seed: int = 0) -> list[float]:
        """The time of every move, in seconds from the start."""
        times: list[float] = []
        for first, last in self.bursts(duration, seed):
            n = round((last - first) / self.move_every)
            times.extend(first + k * self.move_every for k in range(n + 1))
        return times


def _ts(t_ns: int) -> pb.Timestamp:
    return pb.Timestamp(seconds=t_ns // 1_000_000_000, nanos=t_ns % 1_000_000_000)


def electrode_index(column: int, row: int) -> int:
    """The electrode number of a grid position on the synthetic 16 x 8 board."""
    return row * GRID_COLUMNS + column


#: The grid's pitch on the synthetic board, in board units (millimetres, as the newer real boards).
BOARD_PITCH = 2.5


def board_definition() -> dict[str, Any]:
    """The synthetic board as the gateway's get_board_definition answers it: one 16 x 8 grid of pins
    `electrode_index(column, row)` (for `pdlogkit.boards.Board`, and the log's metadata)."""
    pins = [[electrode_index(c, r) for c in range(GRID_COLUMNS)] for r in range(GRID_ROWS)]
    return {
        "layout": {"grids": [{"origin": [0.0, 0.0], "pitch": BOARD_PITCH, "pins": pins}], "peripherals": []},
        "oversized_electrodes": [],
    }


class FrameRenderer:
    """Renders camera frames of the synthetic board as JPEGs, cached per drop position."""

    def __init__(self, width: int = 1024, height: int = 768, *, seed: int = 0, quality: int = 7) -> None:
        if width % 2 or height % 2 or width < 64 or height < 64:
            raise ValueError(f"frame size must be even and at least 64x64, not {width}x{height}")
        self.width, self.height = width, height
        self._quality = quality
        self._random = random.Random(seed)
        self._cache: dict[int | None, bytes] = {}
        pitch = min(width // (GRID_COLUMNS + 2), height // (GRID_ROWS + 4))
        self._pitch = pitch
        self._x0 = (width - pitch * GRID_COLUMNS) // 2
        self._y0 = (height - pitch * GRID_ROWS) // 2

    @property
    def transform(self) -> list[float]:
        """The homography (3x3, row-major) from the synthetic board's coordinates to this picture's pixels,
        as the camera daemon registers a real board: it maps each electrode onto the pad drawn for it."""
        scale = self._pitch / BOARD_PITCH
        return [scale, 0.0, float(self._x0), 0.0, scale, float(self._y0), 0.0, 0.0, 1.0]

    def jpeg(self, drop: int | None) -> bytes:
        """The JPEG of the board with the drop on electrode `drop` (None: no drop)."""
        if drop not in self._cache:
            self._cache[drop] = self._render(drop)
        return self._cache[drop]

    def _classes(self, drop: int | None) -> bytes:
        """Per-pixel class (background 0, pad 1, energized pad 2, drop 3) in the high nibble."""
        w, h, pitch = self.width, self.height, self._pitch
        gap = max(2, pitch // 14)
        blank = bytes(w)
        pad_row = bytearray(w)
        for c in range(GRID_COLUMNS):
            x = self._x0 + c * pitch
            pad_row[x + gap : x + pitch - gap] = b"\x10" * (pitch - 2 * gap)
        rows = []
        if drop is not None:
            dc, dr = drop % GRID_COLUMNS, drop // GRID_COLUMNS
            cx, cy = self._x0 + dc * pitch + pitch // 2, self._y0 + dr * pitch + pitch // 2
            radius = pitch * 0.62
        for y in range(h):
            rel = y - self._y0
            in_pads = 0 <= rel < pitch * GRID_ROWS and gap <= rel % pitch < pitch - gap
            row = bytearray(pad_row) if in_pads else bytearray(blank)
            if drop is not None and in_pads and rel // pitch == dr:
                x = self._x0 + dc * pitch
                row[x + gap : x + pitch - gap] = b"\x20" * (pitch - 2 * gap)
            if drop is not None and abs(y - cy) < radius:
                half = int(math.sqrt(radius * radius - (y - cy) ** 2))
                row[max(0, cx - half) : min(w, cx + half)] = b"\x30" * (min(w, cx + half) - max(0, cx - half))
            rows.append(bytes(row))
        return b"".join(rows)

    def _render(self, drop: int | None) -> bytes:
        import av

        w, h = self.width, self.height
        classes = self._classes(drop)
        # Sensor noise in the low nibble, merged with the class by one big-integer OR.
        noise = self._random.randbytes(w * h).translate(bytes(b & 0x0F for b in range(256)))
        merged = (int.from_bytes(classes, "big") | int.from_bytes(noise, "big")).to_bytes(w * h, "big")
        luma = bytes(
            min(255, base + (b & 0x0F) * spread // 15)
            for b in range(256)
            for base, spread in [((40, 30), (120, 30), (160, 30), (200, 20))[min(b >> 4, 3)]]
        )
        chroma_rows = [classes[y * w : (y + 1) * w : 2] for y in range(0, h, 2)]
        half = b"".join(chroma_rows)
        u = half.translate(bytes((140, 100, 95, 165)[min(b >> 4, 3)] for b in range(256)))
        v = half.translate(bytes((120, 150, 160, 105)[min(b >> 4, 3)] for b in range(256)))
        frame = av.VideoFrame(w, h, "yuvj420p")
        for plane, data in zip(frame.planes, (merged.translate(luma), u, v), strict=True):
            plane.update(data)
        codec = av.CodecContext.create("mjpeg", "w")
        codec.width, codec.height, codec.pix_fmt = w, h, "yuvj420p"
        codec.time_base = Fraction(1, 25)
        codec.qmin = codec.qmax = self._quality
        return b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)])


class SynthStream:
    """A deterministic synthetic gateway stream: iterate it for (time_ns, payload) pairs."""

    def __init__(
        self,
        duration: float,
        *,
        seed: int = 0,
        start_ns: int = DEFAULT_START_NS,
        camera: bool = True,
        fps: float = 10.0,
        frame_size: tuple[int, int] = (1024, 768),
        rates: Rates = Rates(),
        move_every: float = 1.5,
        experiment: Experiment | None = None,
    ) -> None:
        if duration < 0 or fps <= 0 or move_every <= 0:
            raise ValueError("duration must be >= 0, fps and move_every > 0")
        self.duration = duration
        self.experiment = experiment
        self.seed = seed
        self.start_ns = start_ns
        self.camera = camera
        self.fps = fps
        self.rates = rates
        self.move_every = move_every
        self.frames = FrameRenderer(*frame_size, seed=seed) if camera else None

    @property
    def bursts(self) -> list[tuple[int, int]]:
        """In experiment mode, (first move, last move) of each burst in Unix ns; else []."""
        if self.experiment is None:
            return []
        return [
            (self.start_ns + round(a * 1e9), self.start_ns + round(b * 1e9))
            for a, b in self.experiment.bursts(self.duration, self.seed)
        ]

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        rnd = random.Random(self.seed)
        end = self.start_ns + round(self.duration * 1e9)
        state = {"drop": electrode_index(*_PATH[0]), "step": 0}
        queue: list[tuple[int, int, str, float]] = []
        periods = {kind: 1.0 / rate for kind, rate in vars(self.rates).items() if rate > 0}
        moves: Iterator[float] | None = None
        if self.experiment is None:
            periods["electrode_state"] = self.move_every
        else:
            moves = iter(self.experiment.moves_in(self.duration, self.seed))
            first_move = next(moves, None)
            if first_move is not None:
                heapq.heappush(queue, (self.start_ns + round(first_move * 1e9), len(periods) + 1, "electrode_state", 0))
        if self.camera:
            periods["image"] = 1.0 / self.fps
        for order, (kind, period) in enumerate(periods.items()):
            first = self.start_ns + round(rnd.uniform(0.0, min(period, 0.05)) * 1e9)
            heapq.heappush(queue, (first, order, kind, period))
        yield (
            self.start_ns,
            pb.PurpleDropEvent(device_info=pb.DeviceInfo(**DEVICE_INFO)).SerializeToString(),
        )
        yield self.start_ns, self._electrode_state(state["drop"])
        while queue:
            t, order, kind, period = heapq.heappop(queue)
            if t > end:
                break
            if kind == "electrode_state":
                state["step"] += 1
                state["drop"] = electrode_index(*_PATH[state["step"] % len(_PATH)])
                yield t, self._electrode_state(state["drop"])
            elif kind == "image":
                yield from self._camera(t, state["drop"], rnd)
            else:
                yield t, self._sensor(kind, t, state["drop"], rnd)
            if period == 0:  # an experiment's scheduled move
                assert moves is not None
                following = next(moves, None)
                if following is not None:
                    heapq.heappush(queue, (self.start_ns + round(following * 1e9), order, kind, 0))
                continue
            jitter = rnd.gauss(0.0, period * 0.02)
            heapq.heappush(queue, (t + round(max(period * 0.5, period + jitter) * 1e9), order, kind, period))

    def _electrode_state(self, drop: int) -> bytes:
        drive = [i == drop for i in range(ELECTRODES)]
        idle = [False] * ELECTRODES
        scan = [pb.ElectrodeGroup(electrodes=[i % 5 == g for i in range(ELECTRODES)], setting=g) for g in range(5)]
        return pb.PurpleDropEvent(
            electrode_state=pb.ElectrodeState(
                drive_groups=[pb.ElectrodeGroup(electrodes=drive, setting=200), pb.ElectrodeGroup(electrodes=idle)],
                scan_groups=scan,
            )
        ).SerializeToString()

    def _camera(self, t: int, drop: int, rnd: random.Random) -> Iterator[tuple[int, bytes]]:
        assert self.frames is not None
        w, h = self.frames.width, self.frames.height
        yield (
            t,
            pb.PurpleDropEvent(
                image_transform=pb.ImageTransform(
                    timestamp=_ts(t),
                    transform=self.frames.transform,
                    image_width=w,
                    image_height=h,
                )
            ).SerializeToString(),
        )
        fetched = t + round(rnd.uniform(0.5, 2.0) * 1e6)  # frames are stamped when fetched
        yield (
            fetched,
            pb.PurpleDropEvent(
                image=pb.Image(timestamp=_ts(fetched), image_data=self.frames.jpeg(drop))
            ).SerializeToString(),
        )

    def _sensor(self, kind: str, t: int, drop: int, rnd: random.Random) -> bytes:
        message = _SENSORS[kind](_ts(t), drop, rnd)
        return pb.PurpleDropEvent(**{kind: message}).SerializeToString()


# One builder per periodic sensor kind: (timestamp, drop's electrode, random) -> message.
def _active_capacitance(ts: pb.Timestamp, drop: int, rnd: random.Random) -> Any:
    value = 4.2 + rnd.gauss(0.0, 0.05)
    return pb.ActiveCapacitance(timestamp=ts, baseline=0.8, measurement=value + 0.8, calibrated=value)


def _scan_capacitance(ts: pb.Timestamp, drop: int, rnd: random.Random) -> Any:
    # As the gateway sends them: a measurement per electrode, all but the covered
    # ones left at their defaults (about 300 B in all).
    measurements = [pb.CapacitanceMeasurement() for _ in range(ELECTRODES)]
    raw = 1500.0 + rnd.gauss(0.0, 3.0)
    measurements[drop] = pb.CapacitanceMeasurement(capacitance=(raw - 200.0) / 300.0, drop_present=True, raw=raw)
    return pb.ScanCapacitance(timestamp=ts, measurements=measurements)


def _group_capacitance(ts: pb.Timestamp, drop: int, rnd: random.Random) -> Any:
    raw = [1500.0 + rnd.gauss(0.0, 5.0)] + [210.0 + rnd.gauss(0.0, 2.0) for _ in range(4)]
    return pb.GroupCapacitance(timestamp=ts, measurements=[(r - 200.0) / 300.0 for r in raw], raw_measurements=raw)


def _duty_cycle_updated(ts: pb.Timestamp, drop: int, rnd: random.Random) -> Any:
    return pb.DutyCycleUpdated(timestamp=ts, duty_cycles=[200, 0, 0, 0, 0])


def _temperature_control(ts: pb.Timestamp, drop: int, rnd: random.Random) -> Any:
    temps = [25.0 + rnd.gauss(0.0, 0.1) for _ in range(4)]
    return pb.TemperatureControl(temperatures=temps, duty_cycles=[0.0] * 4, timestamp=ts)


def _hv_regulator(ts: pb.Timestamp, drop: int, rnd: random.Random) -> Any:
    return pb.HvRegulator(voltage=200.0 + rnd.gauss(0.0, 0.5), v_target_out=2.05, timestamp=ts)


_SENSORS = {
    "active_capacitance": _active_capacitance,
    "scan_capacitance": _scan_capacitance,
    "group_capacitance": _group_capacitance,
    "duty_cycle_updated": _duty_cycle_updated,
    "temperature_control": _temperature_control,
    "hv_regulator": _hv_regulator,
}


def write_log(
    path: str | os.PathLike[str],
    duration: float,
    *,
    format: str | None = None,
    **stream_options: Any,
) -> int:
    """Write `duration` seconds of synthetic stream to a log (format from the extension); return the event count."""
    from .log import open_writer

    count = 0
    metadata = {"source": "pdlogkit.synth", "seed": stream_options.get("seed", 0), "board": board_definition()}
    with open_writer(path, format, metadata=metadata) as w:
        for t, payload in SynthStream(duration, **stream_options):
            w.write(payload, t)
            count += 1
    return count


class SynthGateway(LoopService):
    """A live synthetic gateway: broadcasts a `SynthStream` in real time over a websocket,
    and answers `get_board_definition` and `get_device_info` on a control API (JSON-RPC, `rpc_url`).

    Binds 127.0.0.1 on free ports unless told otherwise. Use it as an async context
    manager in async code, or as a plain one (it then runs in a background thread).
    Timestamps are the wall clock at publication, as the real gateway's are.
    """

    thread_name = "pdlogkit-synth-gateway"
    start_timeout = stop_timeout = 10.0

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        rpc_port: int = 0,
        duration: float = 24 * 3600.0,
        **stream_options: Any,
    ) -> None:
        self.host = host
        self.port = port
        self.rpc_port = rpc_port
        self._duration = duration
        self._options = stream_options
        self._clients: set[Any] = set()
        self._server: Any = None
        self._rpc: Any = None
        self._task: asyncio.Task[None] | None = None
        self._background: BackgroundLoop | None = None

    @property
    def ws_url(self) -> str:
        """The websocket URL clients connect to."""
        return f"ws://{self.host}:{self.port}"

    @property
    def rpc_url(self) -> str:
        """The control API's JSON-RPC endpoint (what a recorder's `rpc_url` takes)."""
        return f"http://{self.host}:{self.rpc_port}/rpc"

    @property
    def clients(self) -> int:
        """How many clients are connected."""
        return len(self._clients)

    async def start(self) -> None:
        """Start listening and broadcasting."""
        from websockets.asyncio.server import serve

        self._server = await serve(self._handle, self.host, self.port, max_size=None, compression=None)
        self.port = self._server.sockets[0].getsockname()[1]
        if self._rpc is None:
            self._rpc = await _control_api(self.host, self.rpc_port)
            self.rpc_port = self._rpc.addresses[0][1]
        self._task = asyncio.get_running_loop().create_task(self._broadcast())

    async def stop(self) -> None:
        """Stop broadcasting and close every connection (what a gateway restart does)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def close(self) -> None:
        """Stop, and close the control API too."""
        await self.stop()
        if self._rpc is not None:
            await self._rpc.cleanup()
            self._rpc = None

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __exit__(self, *exc: object) -> None:
        assert self._background is not None
        try:
            self._background.run(self.close(), timeout=self.stop_timeout)
        finally:
            self._background.close()

    async def _handle(self, connection: Any) -> None:
        self._clients.add(connection)
        try:
            await connection.wait_closed()
        finally:
            self._clients.discard(connection)

    async def _broadcast(self) -> None:
        from websockets.asyncio.server import broadcast

        loop = asyncio.get_running_loop()
        anchor = loop.time()
        start_ns = time.time_ns()
        stream = SynthStream(self._duration, start_ns=start_ns, **self._options)
        for t, payload in stream:
            delay = anchor + (t - start_ns) / 1e9 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            broadcast(self._clients, payload)

    def restart(self, downtime: float = 0.0) -> None:
        """(Sync use) Stop, wait `downtime` seconds, and start again on the same port."""
        assert self._background is not None, "restart() is for the synchronous context manager"
        self._background.run(self.stop(), timeout=10)
        time.sleep(downtime)
        self._background.run(self.start(), timeout=10)


async def _control_api(host: str, port: int) -> Any:
    """The synthetic gateway's control API on an aiohttp runner: the two read-only questions a recorder asks."""
    from aiohttp import web

    from .replay.rpc import Dispatcher

    def get_board_definition() -> dict[str, Any]:
        """The synthetic 16 x 8 board, as the gateway answers it."""
        return board_definition()

    def get_device_info() -> dict[str, Any]:
        """The synthetic device."""
        return dict(DEVICE_INFO)

    dispatcher = Dispatcher({f.__name__: f for f in (get_board_definition, get_device_info)})

    async def rpc(request: web.Request) -> web.Response:
        answer = await dispatcher.handle(await request.read())
        return web.Response(body=answer or b"", status=200 if answer else 204, content_type="application/json")

    app = web.Application()
    app.router.add_post("/rpc", rpc)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
