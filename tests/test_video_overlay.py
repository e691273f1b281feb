"""Videos with the device drawn in: the clock, the marker in force, the driven electrodes where they are."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import av
import numpy as np
import pytest

from pdlogkit import Marker, open_writer
from pdlogkit.boards import Board, load_board
from pdlogkit.cli import main
from pdlogkit.cli.common import USAGE
from pdlogkit.files.classic import ClassicWriter
from pdlogkit.schema import (
    ActiveCapacitance,
    ElectrodeGroup,
    ElectrodeState,
    Image,
    ImageTransform,
    PurpleDropEvent,
    Timestamp,
)
from pdlogkit.synth import FrameRenderer, board_definition, write_log
from pdlogkit.video import Overlay, Registration, write_video

T0 = 1_767_225_600_000_000_000  # 2026-01-01 00:00:00 UTC in ns
S = 1_000_000_000
MS = 1_000_000

# A board (misl_v6, in millimetres) seen by a camera 640x480: 7 px/mm, turned 4 degrees, in perspective.
ANGLE = math.radians(4)
KNOWN_H = [
    7 * math.cos(ANGLE),
    -7 * math.sin(ANGLE),
    140.0,
    7 * math.sin(ANGLE),
    7 * math.cos(ANGLE),
    57.0,
    0.0008,
    0.0002,
    1.0,
]
PIN_A, PIN_B = 20, 103  # two grid electrodes of misl_v6, driven by drive groups A and B


def ts(t_ns: int) -> Timestamp:
    return Timestamp(seconds=t_ns // S, nanos=t_ns % S)


def transform_event(t_ns: int, values: list[float], size: tuple[int, int]) -> bytes:
    message = ImageTransform(timestamp=ts(t_ns), transform=values, image_width=size[0], image_height=size[1])
    return PurpleDropEvent(image_transform=message).SerializeToString()


def image_event(t_ns: int, jpeg: bytes) -> bytes:
    return PurpleDropEvent(image=Image(timestamp=ts(t_ns), image_data=jpeg)).SerializeToString()


def state_event(group_a: set[int], group_b: set[int] | None = None) -> bytes:
    groups = [
        ElectrodeGroup(electrodes=[i in pins for i in range(128)], setting=200) for pins in (group_a, group_b or set())
    ]
    return PurpleDropEvent(electrode_state=ElectrodeState(drive_groups=groups)).SerializeToString()


def capacitance_event(t_ns: int, value: float) -> bytes:
    message = ActiveCapacitance(timestamp=ts(t_ns), baseline=0.5, measurement=value + 0.5, calibrated=value)
    return PurpleDropEvent(active_capacitance=message).SerializeToString()


def camera_log(
    path: Path,
    *,
    frames: int = 20,
    transform: list[float] | None = None,
    size: tuple[int, int] = (640, 480),
    states: dict[int, tuple[set[int], set[int]]] | None = None,
    capacitance: bool = False,
    metadata: dict | None = None,
    markers: list[Marker] | None = None,
) -> Path:
    """A log of `frames` camera frames at 10 frames/s, each after its image_transform; `states` drive
    electrodes from a frame number on; `markers` need a classic log (they go in its metadata sidecar)."""
    renderer = FrameRenderer(*size, seed=4)
    states = states or {0: ({PIN_A}, {PIN_B})}
    events: list[tuple[int, bytes]] = []
    for i in range(frames):
        t = T0 + i * 100 * MS
        if i in states:
            events.append((t, state_event(*states[i])))
        if capacitance:
            events += [
                (t + k * 20 * MS, capacitance_event(t + k * 20 * MS, 4.0 + 0.1 * math.sin(i + k))) for k in range(5)
            ]
        events.append((t + 1 * MS, transform_event(t + 1 * MS, transform or [], size)))
        events.append((t + 2 * MS, image_event(t + 2 * MS, renderer.jpeg(i % 7))))
    if markers is not None:
        with ClassicWriter(path, metadata=metadata, markers=markers) as w:
            for _, payload in events:
                w.write(payload)
    else:
        with open_writer(path, metadata=metadata) as w:
            for t, payload in events:
                w.write(payload, t)
    return path


def decoded_planes(path: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every frame of a video as its (Y, U, V) planes."""
    with av.open(str(path)) as container:
        out = []
        for frame in container.decode(video=0):
            planes = []
            for plane in frame.planes:
                data = np.frombuffer(bytes(plane), np.uint8).reshape(plane.height, plane.line_size)
                planes.append(data[:, : plane.width].astype(int))
            out.append(tuple(planes))
        return out


def frame_times(path: Path) -> list[tuple[int, float]]:
    with av.open(str(path)) as container:
        return [(frame.pts, frame.time) for frame in container.decode(video=0)]


def project(h: list[float], point: tuple[float, float]) -> tuple[float, float]:
    """A board point in the picture, by the homography (worked out here, independently of pdlogkit)."""
    m = np.array(h, float).reshape(3, 3)
    x, y, w = m @ np.array([point[0], point[1], 1.0])
    return x / w, y / w


def centre(board: Board, pin: int, h: list[float]) -> tuple[int, int]:
    """The pixel (x, y) at the middle of an electrode as the camera sees it."""
    corners = [project(h, p) for p in board.electrodes[pin].outlines[0]]
    return round(sum(x for x, _ in corners) / len(corners)), round(sum(y for _, y in corners) / len(corners))


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A registered camera log of a misl_v6 board, and its video plain and with the overlay (lossless)."""
    folder = tmp_path_factory.mktemp("overlay")
    log = camera_log(
        folder / "run.pdlz", transform=KNOWN_H, metadata={"board": load_board("misl_v6").gateway_definition()}
    )
    lossless = {"crf": 0, "preset": "ultrafast"}
    write_video(log, folder / "plain.mp4", **lossless)
    summary = write_video(log, folder / "overlay.mp4", overlay=True, **lossless)
    (folder / "summary.json").write_text(json.dumps(summary.to_dict(), default=str))
    return {
        "log": log,
        "plain": folder / "plain.mp4",
        "overlay": folder / "overlay.mp4",
        "summary": folder / "summary.json",
    }


def test_the_overlay_keeps_every_frame_at_its_own_time(registered: dict[str, Path]) -> None:
    plain, overlay = frame_times(registered["plain"]), frame_times(registered["overlay"])
    assert len(overlay) == len(plain) == 20
    assert overlay == plain
    for i, (_, t) in enumerate(overlay):
        assert abs(t - i * 0.1) < 1e-3


def test_driven_electrodes_are_outlined_where_the_camera_sees_them(registered: dict[str, Path]) -> None:
    board = load_board("misl_v6")
    summary = json.loads(registered["summary"].read_text())
    assert summary["overlay"]["board"] == "the log's metadata"
    assert summary["overlay"]["in_place"] == summary["overlay"]["frames"] == 20
    (xa, ya), (xb, yb) = centre(board, PIN_A, KNOWN_H), centre(board, PIN_B, KNOWN_H)
    idle_x, idle_y = centre(board, 24, KNOWN_H)  # an electrode nobody drives
    plain, overlay = decoded_planes(registered["plain"]), decoded_planes(registered["overlay"])
    for (py, pu, pv), (oy, ou, ov) in zip(plain, overlay, strict=True):
        # Inside A's outline the picture is tinted cyan (Cr falls), inside B's magenta (Cr rises).
        assert ov[ya // 2, xa // 2] < pv[ya // 2, xa // 2] - 15
        assert ov[yb // 2, xb // 2] > pv[yb // 2, xb // 2] + 15
        # Away from every electrode and text box (the bottom left), and on an idle electrode, nothing changes.
        assert np.array_equal(oy[150:470, 0:120], py[150:470, 0:120])
        assert np.array_equal(ou[75:235, 0:60], pu[75:235, 0:60])
        assert oy[idle_y, idle_x] == py[idle_y, idle_x]


def test_the_clock_is_drawn_top_left_and_runs(registered: dict[str, Path]) -> None:
    plain, overlay = decoded_planes(registered["plain"]), decoded_planes(registered["overlay"])
    box = (slice(10, 40), slice(10, 150))  # the first line of the clock, 640x480
    first, later = overlay[0][0][box], overlay[15][0][box]
    assert (first < plain[0][0][box] - 20).mean() > 0.3  # a darkened box behind the text
    assert (first > 200).sum() > 50  # bright letters on it
    assert not np.array_equal(first, later)  # 1.5 s later the clock says so


def test_the_first_frame_after_a_window_start_shows_the_electrodes_driven_before_it(tmp_path: Path) -> None:
    board = load_board("misl_v6")
    log = camera_log(
        tmp_path / "run.pdlz",
        transform=KNOWN_H,
        states={0: ({PIN_A}, set())},
        metadata={"board": board.gateway_definition()},
    )
    write_video(log, tmp_path / "plain.mp4", start=1.0, crf=0, preset="ultrafast")
    write_video(log, tmp_path / "over.mp4", start=1.0, crf=0, preset="ultrafast", overlay=True)
    x, y = centre(board, PIN_A, KNOWN_H)
    plain, over = decoded_planes(tmp_path / "plain.mp4")[0], decoded_planes(tmp_path / "over.mp4")[0]
    assert over[2][y // 2, x // 2] < plain[2][y // 2, x // 2] - 15


def test_an_empty_transform_draws_an_inset_of_the_board_instead(tmp_path: Path) -> None:
    log = camera_log(tmp_path / "run.pdlz", transform=None, metadata={"board": board_definition()})
    plain = write_video(log, tmp_path / "plain.mp4", crf=0, preset="ultrafast")
    summary = write_video(log, tmp_path / "over.mp4", crf=0, preset="ultrafast", overlay=True)
    assert frame_times(tmp_path / "over.mp4") == frame_times(tmp_path / "plain.mp4")
    assert summary.frames == plain.frames == 20
    assert summary.overlay is not None
    assert (summary.overlay.in_place, summary.overlay.inset) == (0, 20)
    (py, _, _), (oy, _, _) = decoded_planes(tmp_path / "plain.mp4")[0], decoded_planes(tmp_path / "over.mp4")[0]
    assert (oy[400:470, 500:630] != py[400:470, 500:630]).mean() > 0.5  # the inset, bottom right
    assert np.array_equal(oy[150:300, 200:400], py[150:300, 200:400])  # the middle of the picture untouched


@pytest.mark.parametrize(
    "transform",
    [[0.0] * 9, [float("nan")] * 9, [1.0, 0.0, 0.0], [1, 0, 0, 0, 1, 0, 0, -1, 1]],
    ids=["singular", "nan", "not-3x3", "behind-the-camera"],
)
def test_a_transform_that_cannot_be_drawn_falls_back_to_the_inset(tmp_path: Path, transform: list[float]) -> None:
    log = camera_log(tmp_path / "run.pdlz", frames=3, transform=transform, metadata={"board": board_definition()})
    summary = write_video(log, tmp_path / "over.mp4", preset="ultrafast", overlay=True)
    assert summary.overlay is not None and summary.overlay.inset == summary.frames == 3


def test_without_a_board_the_clock_and_the_marker_are_still_drawn(tmp_path: Path) -> None:
    markers = [Marker(T0 + 1 * S, "drop dispensed")]
    log = camera_log(tmp_path / "run.bin", transform=KNOWN_H, markers=markers)
    write_video(log, tmp_path / "plain.mp4", crf=0, preset="ultrafast")
    plain = decoded_planes(tmp_path / "plain.mp4")
    summary = write_video(log, tmp_path / "over.mp4", crf=0, preset="ultrafast", overlay=Overlay())
    assert summary.overlay is not None and summary.overlay.board is None
    assert any("--board" in note for note in summary.overlay.notes)
    over = decoded_planes(tmp_path / "over.mp4")
    bottom_left = (slice(440, 475), slice(10, 150))
    assert np.array_equal(over[5][0][bottom_left], plain[5][0][bottom_left])  # before the marker: nothing
    assert (over[15][0][bottom_left] != plain[15][0][bottom_left]).mean() > 0.3  # after it: its box
    assert not np.array_equal(over[15][0][10:40, 10:150], plain[15][0][10:40, 10:150])  # the clock


def test_the_capacitance_plot_is_drawn_top_right_when_asked(tmp_path: Path) -> None:
    log = camera_log(tmp_path / "run.pdlz", frames=10, capacitance=True)
    write_video(log, tmp_path / "plain.mp4", crf=0, preset="ultrafast")
    write_video(log, tmp_path / "clock.mp4", crf=0, preset="ultrafast", overlay=True)
    summary = write_video(log, tmp_path / "plot.mp4", crf=0, preset="ultrafast", overlay=Overlay(capacitance=True))
    assert summary.overlay is not None and summary.overlay.capacitance
    corner = (slice(10, 90), slice(450, 630))
    plain, clock, plot = (decoded_planes(tmp_path / f"{n}.mp4")[-1][0][corner] for n in ("plain", "clock", "plot"))
    assert np.array_equal(clock, plain)
    assert (plot != plain).mean() > 0.5
    assert ((plot > 180) & (plain < 180)).sum() > 30  # the yellow line and the labels


def test_text_is_legible_on_a_real_1024x768_frame(tmp_path: Path, real_frames: list[bytes]) -> None:
    log = tmp_path / "real.bin"
    with ClassicWriter(log, markers=[Marker(T0, "sample loaded")]) as w:
        w.write(state_event({3, 4}))
        for i, jpeg in enumerate(real_frames * 2):
            w.write(transform_event(T0 + i * 100 * MS, [], (1024, 768)))
            w.write(image_event(T0 + i * 100 * MS + MS, jpeg))
    write_video(log, tmp_path / "plain.mp4", crf=0, preset="ultrafast")
    summary = write_video(log, tmp_path / "over.mp4", crf=0, preset="ultrafast", overlay=Overlay(board="misl_v4.1"))
    assert summary.overlay is not None and summary.overlay.inset == 4
    (py, _, _), (oy, _, _) = decoded_planes(tmp_path / "plain.mp4")[0], decoded_planes(tmp_path / "over.mp4")[0]
    # The clock's box: the rows of the top left corner darkened behind the text.
    darker = (oy[:200, 16:200] < py[:200, 16:200] - 30).mean(axis=1) > 0.5
    box = np.flatnonzero(darker)
    assert box[0] <= 16 and 60 <= len(box) <= 140
    letters = oy[box[0] : box[-1] + 1, 12:300] > 200  # white letters on it
    rows = np.flatnonzero(letters.any(axis=1))
    # Three lines of text, each at least 15 pixels from its highest to its lowest mark: readable, not a smudge.
    lines = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    assert len(lines) == 3 and all(line[-1] - line[0] >= 14 for line in lines)


def test_registration_maps_board_coordinates_to_the_video_frame() -> None:
    assert Registration.from_transform([]) is None
    assert Registration.from_transform([1.0] * 9) is None  # singular
    reg = Registration.from_transform([2, 0, 10, 0, 2, 20, 0, 0, 1], 1025, 769)
    assert reg is not None and reg.project([(1.0, 1.0), (5.0, 0.0)]) == [(12.0, 22.0), (20.0, 20.0)]
    # An odd picture is cropped by a column and a row for H.264: pixels stay where they are.
    assert reg.onto((1025, 769), (1024, 768)).project([(1.0, 1.0)]) == [(12.0, 22.0)]
    # A transform for a picture twice the size of the one decoded is scaled down, as the web UI does.
    assert reg.onto((512, 384), (512, 384)).project([(1.0, 1.0)]) == [pytest.approx((12 * 512 / 1025, 22 * 384 / 769))]
    assert Registration.from_transform([1, 0, 0, 0, 1, 0, 0, -1, 1]).project([(0, 2)]) is None  # type: ignore[union-attr]


def test_the_synthetic_camera_transform_maps_its_board_onto_its_pads() -> None:
    renderer = FrameRenderer(320, 240)
    board = Board(board_definition())
    codec = av.CodecContext.create("mjpeg", "r")
    [frame] = codec.decode(av.Packet(renderer.jpeg(None)))
    luma = frame.to_ndarray(format="gray")
    for pin in (0, 15, 37, 127):
        x, y = centre(board, pin, renderer.transform)
        assert luma[y, x] > 100  # a pad
        corner = project(renderer.transform, board.electrodes[pin].outlines[0][0])
        assert luma[round(corner[1]), round(corner[0])] < 90  # the gap between pads


def test_video_overlay_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "run.pdlz"
    write_log(log, 1.0, fps=10, frame_size=(320, 240), seed=3)
    out = tmp_path / "run.mp4"

    assert main(["video", str(log), str(out), "--preset", "ultrafast", "--overlay", "capacitance", "--json"]) == 0

    report = json.loads(capsys.readouterr().out)["overlay"]
    assert report["board"] == "the log's metadata" and report["capacitance"] is True
    assert report["in_place"] == report["frames"] > 0

    assert main(["video", str(log), str(out), "--overlay", "--board", "misl_v6", "--force"]) == 0
    assert "electrodes from pdlogkit:misl_v6" in capsys.readouterr().out
    assert main(["video", str(log), str(tmp_path / "a.mp4"), "--overlay", "--board", "no_such_board"]) == USAGE
    assert "no_such_board" in capsys.readouterr().err
    assert main(["video", str(log), str(tmp_path / "b.mp4"), "--board", "misl_v6"]) == USAGE
    assert main(["video", str(log), str(tmp_path / "c.mov"), "--codec", "copy", "--overlay"]) == USAGE
    assert "h264" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.mp4", "run.pdlz"]


def test_the_clock_can_show_another_time_zone(tmp_path: Path) -> None:
    log = camera_log(tmp_path / "run.pdlz", frames=3)
    write_video(log, tmp_path / "utc.mp4", crf=0, preset="ultrafast", overlay=True)
    zone = dt.timezone(dt.timedelta(hours=-8))
    write_video(log, tmp_path / "pst.mp4", crf=0, preset="ultrafast", overlay=Overlay(timezone=zone))
    utc, pst = decoded_planes(tmp_path / "utc.mp4")[0][0], decoded_planes(tmp_path / "pst.mp4")[0][0]
    first_line, second_line = (slice(10, 34), slice(10, 300)), (slice(40, 60), slice(10, 200))
    assert not np.array_equal(utc[first_line], pst[first_line])  # 00:00 UTC is 16:00 the day before
    assert np.array_equal(utc[second_line], pst[second_line])  # the seconds since the start are the same
