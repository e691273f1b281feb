"""Videos from a log's camera frames: every frame at its own time, bad frames counted, never a crash."""

from __future__ import annotations

import itertools
import math
import statistics
import threading
from fractions import Fraction
from pathlib import Path

import av
import pytest

from pdlogkit import open_log
from pdlogkit.errors import LogFormatError, TruncatedLogWarning, VideoError
from pdlogkit.files.classic import ClassicWriter
from pdlogkit.logtools import index_log
from pdlogkit.schema import Image, PurpleDropEvent, Timestamp
from pdlogkit.synth import FrameRenderer, write_log
from pdlogkit.video import FrameClock, jpeg_size, resample, schedule, write_video

T0 = 1_767_225_600_000_000_000  # 2026-01-01 00:00:00 UTC in ns
MS = 1_000_000


def image_event(t_ns: int | None, jpeg: bytes) -> bytes:
    """A serialized image event stamped `t_ns` (None: no timestamp)."""
    ts = Timestamp(seconds=t_ns // 1_000_000_000, nanos=t_ns % 1_000_000_000) if t_ns is not None else None
    return PurpleDropEvent(image=Image(timestamp=ts, image_data=jpeg)).SerializeToString()


def write_frames(path: Path, frames: list[tuple[int | None, bytes]]) -> Path:
    """A classic log of image events (t_ns, jpeg) in the given order."""
    with ClassicWriter(path) as w:
        for t_ns, jpeg in frames:
            w.write(image_event(t_ns, jpeg))
    return path


def solid_jpeg(width: int, height: int, shade: int = 128, band: bool = True) -> bytes:
    """A small JPEG of one grey (with a lighter band unless `band` is False), any size (odd too)."""
    frame = av.VideoFrame(width, height, "gray")
    plane = frame.planes[0]
    lighter = min(255, shade + 60) if band else shade
    row = bytes([shade] * (width // 2) + [lighter] * (width - width // 2))
    plane.update(row.ljust(plane.line_size, b"\0") * height)
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuvj444p"
    codec.time_base = Fraction(1, 25)
    yuv = frame.reformat(format="yuvj444p")
    return b"".join(bytes(p) for p in [*codec.encode(yuv), *codec.encode(None)])


@pytest.fixture(scope="module")
def frames320() -> list[bytes]:
    """Four different real-looking 320x240 camera frames."""
    renderer = FrameRenderer(320, 240, seed=5)
    return [renderer.jpeg(drop) for drop in (None, 3, 20, 40)]


def decoded(path: Path) -> list[av.VideoFrame]:
    """The video's frames, decoded."""
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def packets(path: Path) -> list[av.Packet]:
    """The video's packets as stored (no empty flush packets)."""
    with av.open(str(path)) as container:
        return [p for p in container.demux(video=0) if p.size]


def duration(path: Path) -> float:
    """The container's duration in seconds."""
    with av.open(str(path)) as container:
        return container.duration / 1e6


def top_level_boxes(path: Path) -> list[str]:
    """The types of an MP4 file's top-level boxes, in file order."""
    data, boxes, pos = path.read_bytes(), [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        boxes.append(data[pos + 4 : pos + 8].decode("latin-1"))
        if size == 1:  # 64-bit size
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size < 8:
            break
        pos += size
    return boxes


def image_times(log_path: Path) -> list[int]:
    with open_log(log_path) as log:
        return [e.time_ns for e in log.events(kinds=["image"])]


def assert_frames_at(frames: list[av.VideoFrame], times_ns: list[int]) -> None:
    """Each decoded frame sits within 1 ms of its timestamp's offset from the first one."""
    assert len(frames) == len(times_ns)
    for frame, t in zip(frames, times_ns, strict=True):
        assert abs(frame.time - (t - times_ns[0]) / 1e9) < 1e-3


def test_h264_video_shows_every_frame_at_its_own_time(tmp_path: Path) -> None:
    log = tmp_path / "run.bin"
    write_log(log, 4.0, fps=10, frame_size=(320, 240), seed=3)
    times = image_times(log)
    out = tmp_path / "run.mp4"

    summary = write_video(log, out)

    frames = decoded(out)
    assert_frames_at(frames, times)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 320, 240)
        # Limited range with JPEG's BT.601 matrix, said in the file so players do not guess BT.709.
        assert (stream.codec_context.color_range, stream.codec_context.colorspace) == (1, 5)
    assert frames[0].format.name == "yuv420p"
    # The last frame lasts a typical frame interval: the median one.
    typical = statistics.median(b - a for a, b in itertools.pairwise(times))
    expected = (times[-1] - times[0] + typical) / 1e9
    assert duration(out) == pytest.approx(expected, abs=1e-3)
    assert summary.duration == pytest.approx(expected, abs=1e-3)
    assert (summary.frames, summary.images, summary.skipped_total) == (len(times), len(times), 0)
    assert summary.size == out.stat().st_size
    # faststart: the index (moov) comes before the media data, so browsers can stream it.
    boxes = top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat")


def test_a_camera_stall_stays_a_stall(tmp_path: Path, frames320: list[bytes]) -> None:
    # Irregular timing: jitter, then the camera stalls for 2 s, then a burst.
    offsets_ms = [0, 97, 203, 298, 2298, 2331, 2364, 2500.5]
    times = [T0 + round(ms * MS) for ms in offsets_ms]
    log = write_frames(tmp_path / "stall.bin", [(t, frames320[i % 4]) for i, t in enumerate(times)])
    out = tmp_path / "stall.mp4"

    summary = write_video(log, out)

    frames = decoded(out)
    assert_frames_at(frames, times)
    assert frames[4].time - frames[3].time == pytest.approx(2.0, abs=1e-3)
    # The last frame lasts the median interval of the whole run (97, 106, 95, 2000, 33, 33, 136.5 ms).
    assert duration(out) == pytest.approx(2.5005 + 0.097, abs=1e-3)
    assert summary.skipped_total == 0


def luma(frame: av.VideoFrame) -> int:
    """The decoded frame's luma (limited range) in its middle."""
    plane = frame.planes[0]
    return bytes(plane)[frame.height // 2 * plane.line_size + frame.width // 2]


def test_each_moment_of_the_video_shows_the_right_picture(tmp_path: Path) -> None:
    # 20 frames, each one flat grey of its own shade, at irregular intervals (some shorter than 1/25 s).
    shades = [20 + 10 * i for i in range(20)]
    intervals_ms = [70, 33, 150, 45, 90, 20, 300, 60, 110, 35, 80, 55, 130, 25, 95, 65, 140, 50, 75]
    offsets_ms = [0, *itertools.accumulate(intervals_ms)]
    log = write_frames(
        tmp_path / "shades.bin",
        [(T0 + ms * MS, solid_jpeg(64, 48, shade, band=False)) for ms, shade in zip(offsets_ms, shades, strict=True)],
    )
    limited = [16 + round(shade * 219 / 255) for shade in shades]  # full-range JPEG grey in H.264's limited range

    def shown(path: Path) -> list[int]:
        """Which of the 20 shades each decoded frame shows (each within 3 levels of it)."""
        frames = decoded(path)
        picked = [min(range(20), key=lambda i: abs(limited[i] - luma(f))) for f in frames]
        assert all(abs(limited[i] - luma(f)) <= 3 for i, f in zip(picked, frames, strict=True))
        return picked

    write_video(log, tmp_path / "own.mp4", preset="ultrafast")
    assert shown(tmp_path / "own.mp4") == list(range(20))

    # At 25 fps, slot k (from k * 40 ms) shows the frame on screen then: the last one at or before it.
    write_video(log, tmp_path / "cfr.mp4", preset="ultrafast", fps=25)
    end_ms = offsets_ms[-1] + statistics.median(intervals_ms)
    slots = [k * 40 for k in range(math.ceil(end_ms / 40))]
    assert shown(tmp_path / "cfr.mp4") == [max(i for i, t in enumerate(offsets_ms) if t <= s) for s in slots]


@pytest.mark.parametrize("suffix", [".mov", ".mkv", ".mp4"])
def test_copy_stores_the_jpegs_unchanged(tmp_path: Path, frames320: list[bytes], suffix: str) -> None:
    offsets_ms = [0, 100, 150, 1400, 1500]
    times = [T0 + ms * MS + 123 for ms in offsets_ms]
    jpegs = [frames320[i % 4] for i in range(len(times))]
    log = write_frames(tmp_path / "copy.bin", list(zip(times, jpegs, strict=True)))
    out = tmp_path / f"copy{suffix}"

    summary = write_video(log, out, codec="copy")

    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "mjpeg"
    stored = packets(out)
    assert [bytes(p) for p in stored] == jpegs
    for packet, t in zip(stored, times, strict=True):
        assert abs(float(packet.pts * packet.time_base) - (t - times[0]) / 1e9) < 1e-3
    assert (summary.codec, summary.frames, summary.width, summary.height) == ("mjpeg", 5, 320, 240)
    assert duration(out) == pytest.approx(1.5 + 0.1, abs=1e-3)


def test_real_camera_frames_encode_and_copy(tmp_path: Path, real_frames: list[bytes]) -> None:
    # The two real frames differ in chroma subsampling (4:2:0 and 4:4:4).
    real = real_frames
    times = [T0 + i * 150 * MS for i in range(6)]
    log = write_frames(tmp_path / "real.bin", [(t, real[i % 2]) for i, t in enumerate(times)])

    h264 = write_video(log, tmp_path / "real.mp4", preset="ultrafast")
    copy = write_video(log, tmp_path / "real.mov", codec="copy")

    frames = decoded(tmp_path / "real.mp4")
    assert_frames_at(frames, times)
    assert (frames[0].width, frames[0].height) == (1024, 768)
    assert h264.skipped_total == copy.skipped_total == 0
    assert [bytes(p) for p in packets(tmp_path / "real.mov")] == [real[i % 2] for i in range(6)]


def bad_frames_log(path: Path, good: list[bytes]) -> tuple[Path, list[int]]:
    """A log mixing good frames with every kind of bad one; returns it and the good frames' times."""
    other_size = solid_jpeg(160, 120)
    truncated = good[1][: len(good[1]) // 2]
    damaged = bytearray(good[2])
    for i in range(len(damaged) // 3, len(damaged) - 16, 97):
        damaged[i] ^= 0x5A
    entries: list[tuple[int | None, bytes]] = [
        (T0, good[0]),
        (None, good[1]),  # no timestamp
        (T0 + 100 * MS, good[1]),
        (T0 + 50 * MS, good[2]),  # backwards
        (T0 + 100 * MS, good[2]),  # same time again
        (T0 + 200 * MS, truncated),  # corrupt: cut short
        (T0 + 250 * MS, b"not a jpeg at all"),  # corrupt: not a JPEG
        (T0 + 300 * MS, bytes(damaged)),  # corrupt: damaged image data
        (T0 + 400 * MS, other_size),  # another size
        (T0 + 500 * MS, good[3]),
    ]
    with ClassicWriter(path) as w:
        for t_ns, jpeg in entries:
            w.write(image_event(t_ns, jpeg))
        # An image event whose payload is not a valid message at all.
        w.write(bytes([0x1A, 0x05, 0x0A, 0xFF, 0xFF, 0xFF, 0xFF]))
    return path, [T0, T0 + 100 * MS, T0 + 400 * MS, T0 + 500 * MS]


def test_bad_frames_are_skipped_and_counted_never_a_crash(tmp_path: Path, frames320: list[bytes]) -> None:
    log, good_times = bad_frames_log(tmp_path / "bad.bin", frames320)
    out = tmp_path / "bad.mp4"

    summary = write_video(log, out)

    assert summary.images == 11
    assert summary.skipped == {"no_timestamp": 1, "out_of_order": 2, "corrupt": 4, "size_mismatch": 0}
    assert summary.rescaled == 1  # H.264 scales a frame of another size to the first frame's
    frames = decoded(out)
    assert_frames_at(frames, good_times)
    assert {(f.width, f.height) for f in frames} == {(320, 240)}


def test_copy_skips_frames_of_another_size(tmp_path: Path, frames320: list[bytes]) -> None:
    log, _ = bad_frames_log(tmp_path / "bad.bin", frames320)
    out = tmp_path / "bad.mkv"

    summary = write_video(log, out, codec="copy")

    # Copy checks a JPEG's structure, not its image data: the damaged frame goes through as it is.
    assert summary.skipped == {"no_timestamp": 1, "out_of_order": 2, "corrupt": 3, "size_mismatch": 1}
    stored = packets(out)
    assert len(stored) == summary.frames == 4
    assert [float(p.pts * p.time_base) for p in stored] == pytest.approx([0.0, 0.1, 0.3, 0.5], abs=1e-3)
    # The good frames, and the damaged one (third) as it was.
    assert [bytes(stored[i]) for i in (0, 1, 3)] == [frames320[0], frames320[1], frames320[3]]


@pytest.mark.parametrize("sidecar", [False, True], ids=["scanned", "sidecar"])
def test_start_and_end_cut_the_video(tmp_path: Path, sidecar: bool) -> None:
    log = tmp_path / "run.bin"
    write_log(log, 6.0, fps=8, frame_size=(128, 96), seed=4)
    if sidecar:
        index_log(log)
    # Expected: every camera frame from 2 s to 4.5 s after the log's first event, picked out by hand.
    with open_log(log) as opened:
        everything = list(opened.events())
    log_start = next(e.time_ns for e in everything if e.time_ns is not None)
    times = [
        e.time_ns
        for e in everything
        if e.kind == "image" and log_start + 2_000_000_000 <= e.time_ns < log_start + 4_500_000_000
    ]
    assert 15 <= len(times) <= 25

    summary = write_video(log, tmp_path / "cut.mp4", start=2.0, end=4.5, preset="ultrafast")

    frames = decoded(tmp_path / "cut.mp4")
    assert_frames_at(frames, times)
    assert summary.images == len(times)


def test_indexed_logs_make_the_same_video(tmp_path: Path) -> None:
    classic, indexed = tmp_path / "run.bin", tmp_path / "run.pdlz"
    write_log(classic, 3.0, fps=10, frame_size=(128, 96), seed=6)
    write_log(indexed, 3.0, fps=10, frame_size=(128, 96), seed=6)

    a = write_video(classic, tmp_path / "a.mov", codec="copy", start=1.0, end=2.5)
    b = write_video(indexed, tmp_path / "b.mov", codec="copy", start=1.0, end=2.5)

    def stored(path: Path) -> list[tuple[bytes, int]]:
        return [(bytes(p), p.pts) for p in packets(path)]

    assert a.frames == b.frames > 10
    assert stored(tmp_path / "a.mov") == stored(tmp_path / "b.mov")


def test_fps_makes_a_constant_rate_video_on_the_logs_clock(tmp_path: Path, frames320: list[bytes]) -> None:
    offsets_ms = [0, 100, 200, 1700, 1800]  # a 1.5 s stall
    times = [T0 + ms * MS for ms in offsets_ms]
    log = write_frames(tmp_path / "stall.bin", [(t, frames320[i % 4]) for i, t in enumerate(times)])

    summary = write_video(log, tmp_path / "cfr.mov", codec="copy", fps=10)

    stored = packets(tmp_path / "cfr.mov")
    # 1.8 s + a last frame of 0.1 s = 19 slots of 0.1 s, each showing the frame on screen then.
    assert len(stored) == summary.frames == 19
    assert [round(float(p.pts * p.time_base) * 10, 6) for p in stored] == list(range(19))
    shown = [frames320.index(bytes(p)) for p in stored]
    assert shown == [0, 1] + [2] * 15 + [3, 0]
    assert summary.duration == pytest.approx(1.9)

    h264 = write_video(log, tmp_path / "cfr.mp4", fps=25, preset="ultrafast")
    frames = decoded(tmp_path / "cfr.mp4")
    assert len(frames) == h264.frames == math.ceil(1.9 * 25)
    assert [round(f.time * 25) for f in frames] == list(range(len(frames)))


def test_odd_sizes_are_cropped_to_even_for_h264(tmp_path: Path) -> None:
    jpeg = solid_jpeg(161, 121)
    assert jpeg_size(jpeg) == (161, 121)
    log = write_frames(tmp_path / "odd.bin", [(T0 + i * 100 * MS, jpeg) for i in range(3)])

    summary = write_video(log, tmp_path / "odd.mp4", preset="ultrafast")

    frames = decoded(tmp_path / "odd.mp4")
    assert {(f.width, f.height) for f in frames} == {(160, 120)}
    assert summary.cropped and (summary.width, summary.height) == (160, 120) and summary.rescaled == 0


def test_a_first_frame_too_thin_for_h264_is_skipped_as_corrupt(tmp_path: Path) -> None:
    thin, wide = solid_jpeg(1, 48), solid_jpeg(64, 48)
    log = write_frames(tmp_path / "thin.bin", [(T0, thin), (T0 + 100 * MS, wide), (T0 + 200 * MS, thin)])

    summary = write_video(log, tmp_path / "thin.mp4", preset="ultrafast")

    # The 64x48 frame sets the size; the thin frame after it is scaled to it like any other size.
    assert summary.skipped["corrupt"] == 1 and summary.rescaled == 1
    assert (summary.frames, summary.width, summary.height) == (2, 64, 48)


def test_a_host_clock_step_back_does_not_end_the_video(tmp_path: Path, frames320: list[bytes]) -> None:
    times = [T0, T0 + 100 * MS, T0 + 200 * MS, T0 - 3600 * 10**9, T0 - 3600 * 10**9 + 100 * MS]
    log = write_frames(tmp_path / "step.bin", [(t, frames320[i % 4]) for i, t in enumerate(times)])

    summary = write_video(log, tmp_path / "step.mov", codec="copy")

    stored = packets(tmp_path / "step.mov")
    assert [float(p.pts * p.time_base) for p in stored] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4], abs=1e-3)
    assert summary.clock_steps == 1 and summary.skipped_total == 0


def test_a_log_without_frames_is_a_clear_error_and_leaves_no_file(tmp_path: Path, sensor_log: Path) -> None:
    out = tmp_path / "none.mp4"
    with pytest.raises(VideoError, match="no camera frames"):
        write_video(sensor_log, out)
    assert list(tmp_path.iterdir()) == []

    junk = write_frames(tmp_path / "junk.bin", [(T0, b"junk"), (None, b"\xff\xd8")])
    with pytest.raises(VideoError, match=r"none of the 2 camera frames.*1 no timestamp, 1 corrupt"):
        write_video(junk, out)
    assert not out.exists()


def test_an_interrupted_video_leaves_no_file(tmp_path: Path) -> None:
    log = tmp_path / "run.bin"
    write_log(log, 3.0, fps=10, frame_size=(128, 96), seed=7)
    out = tmp_path / "stop.mp4"

    def interrupt(done: float, total: float | None) -> None:
        if done > 1.0:
            raise KeyboardInterrupt

    for codec in ("h264", "copy"):
        with pytest.raises(KeyboardInterrupt) as excinfo:  # the traceback keeps write_video's frame alive
            write_video(log, out, codec=codec, progress=interrupt)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["run.bin", "run.bin.pdmeta"]  # no video, no part
        # The pipeline was closed on the way out: no decoding thread is left reading the closed log.
        assert excinfo.traceback and "pdlogkit-video-decode" not in {t.name for t in threading.enumerate()}


def test_bad_options_are_refused_before_any_work(tmp_path: Path, synth_log: Path) -> None:
    for kwargs, message in [
        ({"codec": "vp9"}, "unknown codec"),
        ({"crf": 60}, "crf"),
        ({"preset": "warp"}, "unknown preset"),
        ({"fps": 0}, "fps"),
        ({"fps": -5}, "fps"),
        ({"fps": math.inf}, "fps"),
        ({"fps": math.nan}, "fps"),
        ({"fps": 0.0001}, "fps"),  # under one frame in 1001 s
        ({"fps": 100_000}, "fps"),  # 300,000 frames for 3 s of camera
    ]:
        with pytest.raises(ValueError, match=message):
            write_video(synth_log, tmp_path / "x.mp4", **kwargs)
    with pytest.raises(ValueError, match="extension"):
        write_video(synth_log, tmp_path / "x.avi")
    assert list(tmp_path.iterdir()) == []


def test_jpeg_size_reads_the_frame_header_and_rejects_broken_jpegs(real_frames: list[bytes]) -> None:
    real = real_frames[0]
    assert jpeg_size(real) == (1024, 768)
    assert jpeg_size(real[: len(real) // 2]) is None  # no end marker
    assert jpeg_size(real[:2] + real[-2:]) is None  # no frame header
    assert jpeg_size(b"") is None
    assert jpeg_size(b"\x89PNG\r\n\x1a\n" + real[2:]) is None


def test_frame_clock_schedule_and_resample() -> None:
    clock = FrameClock()
    ticks = []
    for t in [T0, T0 + 100 * MS, T0 + 100 * MS, T0 + 250 * MS]:
        tick = clock.place(t)
        if tick is not None:
            clock.accept(t, tick)
            ticks.append(tick)
    assert ticks == [0, 9000, 22500]
    timed = list(schedule(zip(ticks, "abc", strict=True), lambda: clock.interval))
    assert timed == [("a", 0, 9000), ("b", 9000, 13500), ("c", 22500, 11250)]
    # 10 fps: slots start at 0, 0.1, ... 0.3 s; the video ends at 0.375 s.
    assert [(item, pts) for item, pts, _ in resample(timed, Fraction(10))] == [("a", 0), ("b", 1), ("b", 2), ("c", 3)]


def test_a_corrupt_log_is_a_log_format_error_from_either_path(tmp_path: Path, frames320: list[bytes]) -> None:
    log = write_frames(tmp_path / "broken.bin", [(T0 + i * 100 * MS, frames320[0]) for i in range(5)])
    with open(log, "ab") as f:
        f.write((0xFFFFFFF0).to_bytes(4, "little") + b"\x00" * 64)  # a length no record can have

    for codec, name in (("h264", "broken.mp4"), ("copy", "broken.mov")):
        with pytest.raises(LogFormatError, match=r"broken\.bin: byte \d+"):
            write_video(log, tmp_path / name, codec=codec)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.bin"]


def test_a_log_cut_by_a_killed_recorder_still_makes_a_video(tmp_path: Path, frames320: list[bytes]) -> None:
    times = [T0 + i * 100 * MS for i in range(6)]
    log = write_frames(tmp_path / "cut.bin", [(t, frames320[i % 4]) for i, t in enumerate(times)])
    with open(log, "r+b") as f:
        f.truncate(log.stat().st_size - 500)  # the last frame's record is cut short

    with pytest.warns(TruncatedLogWarning):
        summary = write_video(log, tmp_path / "cut.mp4", preset="ultrafast")

    frames = decoded(tmp_path / "cut.mp4")
    assert_frames_at(frames, times[:-1])
    assert summary.images == 5
    # The summary says where the log was cut: just after the five whole records.
    whole = write_frames(tmp_path / "five.bin", [(t, frames320[i % 4]) for i, t in enumerate(times[:-1])])
    assert summary.truncation is not None and summary.truncation.offset == whole.stat().st_size
    assert summary.to_dict()["truncation"]["offset"] == whole.stat().st_size


def test_progress_counts_log_seconds_and_reaches_its_total(tmp_path: Path, frames320: list[bytes]) -> None:
    times = [T0 + i * 250 * MS for i in range(9)]  # 2 s of frames
    log = write_frames(tmp_path / "p.bin", [(t, frames320[i % 4]) for i, t in enumerate(times)])

    def run(**window: float) -> tuple[list[tuple[float, float | None]], float]:
        calls: list[tuple[float, float | None]] = []
        summary = write_video(
            log, tmp_path / "p.mov", codec="copy", overwrite=True, progress=lambda *a: calls.append(a), **window
        )
        return calls, summary.duration

    # A window given: its length is the total, and the last call reaches it even though the frames stop at 2 s.
    calls, _ = run(start=0, end=3)
    assert [done for done, _ in calls[:-1]] == pytest.approx([i * 0.25 for i in range(9)])
    assert calls[-1] == (3.0, 3.0)
    assert {total for _, total in calls} == {3.0}

    # No end and no index: the log's length would take a read of all of it, so the total is unknown.
    calls, duration = run()
    assert {total for _, total in calls} == {None}
    assert calls[-1][0] == pytest.approx(duration)

    # With a sidecar index the log's end is known; seconds count from the window's start, not the first frame.
    index_log(log)
    calls, _ = run()
    assert calls[-1] == (2.0, 2.0)
    calls, _ = run(start=0.6)
    assert [done for done, _ in calls[:-1]] == pytest.approx([0.15 + i * 0.25 for i in range(6)])
    assert calls[-1] == (pytest.approx(1.4), pytest.approx(1.4))


def test_progress_total_of_an_indexed_container_is_the_logs_length(tmp_path: Path) -> None:
    log = tmp_path / "run.pdlz"
    write_log(log, 2.0, fps=5, frame_size=(64, 64), seed=2)
    with open_log(log) as opened:
        length = opened.summary().duration
    calls: list[tuple[float, float | None]] = []

    write_video(log, tmp_path / "run.mov", codec="copy", progress=lambda *a: calls.append(a))

    assert length > 1.5
    assert [total for _, total in calls] == pytest.approx([length] * len(calls))
    assert calls[-1][0] == pytest.approx(length)
