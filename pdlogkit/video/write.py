"""Video from a log's camera frames: H.264 (or the JPEGs as they are), each frame at its own time.

Every frame is presented at its `Image.timestamp` relative to the first frame in
range, in a 1/90000 s time base, so a camera stall stays a stall and the video's
clock follows the log's. `fps` resamples to a constant rate instead. The pure
parts (JPEG header check, frame timing, scheduling) are plain functions and
classes; PyAV does the decoding, encoding and muxing.

Bad frames are never fatal, each is counted under a reason in `VideoSummary.skipped`:

- ``no_timestamp``: the image carries no (or a zero) timestamp;
- ``out_of_order``: its timestamp is not after the previous frame's (a step back
  of more than `CLOCK_STEP_NS` is a host clock step instead: the video carries on
  one frame interval later and `clock_steps` counts it);
- ``corrupt``: the payload does not parse, is not a whole JPEG, or (H.264) does
  not decode cleanly or, as the first frame, is under 2 pixels wide or high;
- ``size_mismatch`` (copy only): its size differs from the first frame's. With
  H.264 such a frame is scaled to the first frame's size and counted in `rescaled`.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

from .errors import LogFormatError, VideoError
from .events import Event
from .files.output import open_output
from .formats.common import Truncation
from .log import Log, TimeBound, open_log
from .timeline import CLOCK_STEP_NS

# PyAV is imported where it is used: the command line loads this module for every command.

#: Presentation times are in this time base (the MPEG clock): exact to 11 microseconds.
TIME_BASE = Fraction(1, 90_000)
_TICKS_PER_S = TIME_BASE.denominator

#: The last frame lasts the median of up to this many recent frame intervals.
INTERVAL_WINDOW = 100

#: The last frame's duration when the video holds a single frame.
SINGLE_FRAME_S = 0.1

#: The constant frame rates `fps` accepts: one frame in 1001 s up to 1000 frames a second.
MIN_FPS = 1 / 1001
MAX_FPS = 1000

CODECS = ("h264", "copy")
PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)
SKIP_REASONS = ("no_timestamp", "out_of_order", "corrupt", "size_mismatch")

#: Output container by file extension.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}

#: FFmpeg's AVColorSpace for BT.601 (625-line): the matrix of JPEG (JFIF) frames.
AVCOL_SPC_BT470BG = 5

# Start-of-frame markers that carry the image size (all SOFn but DHT, JPG and DAC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE_MARKERS = frozenset(range(0xD0, 0xD8)) | {0x01, 0xD8}

ProgressCallback = Callable[[float, "float | None"], None]
T = TypeVar("T")


@dataclass
class VideoSummary:
    """What `write_video` wrote: frames, duration, size, and the frames it left out and why."""

    path: str
    container: str
    codec: str
    width: int
    height: int
    frames: int  # frames in the video file (with `fps`, after resampling)
    images: int  # image events in the range, used or not
    duration: float  # seconds
    size: int  # bytes
    fps: float | None  # None: variable frame rate, frames at their own times
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    rescaled: int = 0
    cropped: bool = False
    clock_steps: int = 0
    truncation: Truncation | None = None  # the log ends inside a record (recorder killed); frames before it are in
    elapsed: float = 0.0  # seconds it took

    @property
    def used(self) -> int:
        """Images that went into the video."""
        return self.images - self.skipped_total

    @property
    def skipped_text(self) -> str:
        """The frames left out by reason, as in "1 no timestamp, 2 corrupt" ("" if none)."""
        return _reasons(self.skipped)

    @property
    def skipped_total(self) -> int:
        """Images left out, all reasons together."""
        return sum(self.skipped.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary, for `video --json` and scripts."""
        return {**asdict(self), "used": self.used, "skipped_total": self.skipped_total}


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header; None unless it looks like a whole JPEG.

    Checks the structure only (start marker, segments up to the frame header, end
    marker): cheap enough for every frame, it does not decode the image data.
    """
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8 or data.rfind(b"\xff\xd9", max(0, n - 32)) < 0:
        return None
    pos = 2
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE_MARKERS:
            pos += 2
            continue
        if marker in _SOF_MARKERS:
            if pos + 9 > n:
                return None
            height = (data[pos + 5] << 8) | data[pos + 6]
            width = (data[pos + 7] << 8) | data[pos + 8]
            return (width, height) if width and height else None
        if marker == 0xDA:  # image data before any frame header
            return None
        pos += 2 + ((data[pos + 2] << 8) | data[pos + 3])
    return None


class FrameClock:
    """Places frames on the video's time line (ticks of `TIME_BASE` from the first frame).

    `place` says where a frame at log time `t_ns` goes, or None when it is out of
    order; `accept` commits it (only frames that made it into the video count).
    """

    def __init__(self) -> None:
        self._origin: int | None = None  # log time at tick 0
        self._last_t: int | None = None
        self._last_tick = -1
        self._intervals: deque[int] = deque(maxlen=INTERVAL_WINDOW)
        self.clock_steps = 0
        #: The log time of the first frame (tick 0).
        self.first_ns: int | None = None

    def place(self, t_ns: int) -> int | None:
        """The tick of a frame at `t_ns`, or None if it is not after the previous frame."""
        if self._origin is None:
            return 0
        assert self._last_t is not None
        if t_ns < self._last_t - CLOCK_STEP_NS:
            return self._last_tick + self.interval
        tick = _ticks(t_ns - self._origin)
        return tick if tick > self._last_tick else None

    def accept(self, t_ns: int, tick: int) -> None:
        """Commit a frame placed at `tick`."""
        if self._origin is None:
            self._origin = self.first_ns = t_ns
        elif _ticks(t_ns - self._origin) != tick:  # a clock step: move the origin with it
            self.clock_steps += 1
            self._origin = t_ns - tick * 1_000_000_000 // _TICKS_PER_S
        if self._last_tick >= 0:
            self._intervals.append(tick - self._last_tick)
        self._last_t = t_ns
        self._last_tick = tick

    @property
    def interval(self) -> int:
        """The typical frame interval in ticks: the median of recent ones."""
        if not self._intervals:
            return round(SINGLE_FRAME_S * _TICKS_PER_S)
        return max(1, round(statistics.median(self._intervals)))


def _ticks(ns: int) -> int:
    return (ns * _TICKS_PER_S + 500_000_000) // 1_000_000_000


def schedule(
    frames: Iterable[tuple[int, T]], last_duration: Callable[[], int]
) -> Generator[tuple[T, int, int], None, None]:
    """(item, pts, duration) in ticks for frames at increasing ticks: each lasts until the next.

    The last frame lasts `last_duration()` ticks (asked once the frames run out).
    """
    previous: tuple[int, T] | None = None
    for tick, item in frames:
        if previous is not None:
            yield previous[1], previous[0], tick - previous[0]
        previous = (tick, item)
    if previous is not None:
        yield previous[1], previous[0], last_duration()


def resample(timed: Iterable[tuple[T, int, int]], rate: Fraction) -> Generator[tuple[T, int, int], None, None]:
    """Constant-rate (item, pts, 1) in frame periods of `rate`: each slot shows the frame on screen at its start."""
    slot = 0
    for item, pts, duration in timed:
        end = pts + duration
        # Slot k starts at k / rate seconds = k * 90000 / rate ticks; it shows this frame if it starts before `end`.
        while slot * _TICKS_PER_S < end * rate:
            yield item, slot, 1
            slot += 1


_DONE = object()


def _in_background(items: Iterator[T], depth: int = 4) -> Generator[T, None, None]:
    """Run the iterator in a thread, `depth` items ahead: decoding overlaps encoding (PyAV releases the GIL)."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        # Never blocks for good: a consumer that stopped early takes nothing more.
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(_Failure(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=work, name="pdlogkit-video-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


@dataclass
class _Failure:
    exc: BaseException


@dataclass
class _Image:
    t_ns: int
    tick: int
    jpeg: bytes
    size: tuple[int, int]


class _Tally:
    """Counts while frames flow: images seen, skips by reason."""

    def __init__(self) -> None:
        self.images = 0
        self.skipped = dict.fromkeys(SKIP_REASONS, 0)
        self.rescaled = 0


def _images(
    log: Log, start: TimeBound, end: TimeBound, clock: FrameClock, tally: _Tally
) -> Generator[_Image, None, None]:
    """The range's image events with a timestamp, in order and whole-JPEG-shaped; the rest counted."""
    for event in log.events(kinds=["image"], start=start, end=end):
        tally.images += 1
        t_ns = event.time_ns
        if t_ns is None:
            tally.skipped["corrupt" if _unreadable(event) else "no_timestamp"] += 1
            continue
        tick = clock.place(t_ns)
        if tick is None:
            tally.skipped["out_of_order"] += 1
            continue
        try:
            jpeg = event.message.image.image_data
        except LogFormatError:
            tally.skipped["corrupt"] += 1
            continue
        size = jpeg_size(jpeg)
        if size is None:
            tally.skipped["corrupt"] += 1
            continue
        yield _Image(t_ns, tick, jpeg, size)


def _unreadable(event: Event) -> bool:
    try:
        event.message  # noqa: B018 - parsing it is the check
    except LogFormatError:
        return True
    return False


def _copy_frames(
    images: Iterator[_Image], clock: FrameClock, tally: _Tally
) -> Generator[tuple[int, _Image], None, None]:
    """Frames for the copy path: the first frame's size sets the video's, other sizes are skipped."""
    first: tuple[int, int] | None = None
    for image in images:
        if first is None:
            first = image.size
        elif image.size != first:
            tally.skipped["size_mismatch"] += 1
            continue
        clock.accept(image.t_ns, image.tick)
        yield image.tick, image


class _Decoder:
    """JPEG bytes to yuv420p frames of one even size: strict decoding, odd edges cropped, other sizes scaled."""

    def __init__(self) -> None:
        from av.video.reformatter import VideoReformatter

        self._ctx = self._context()
        self._reformatter = VideoReformatter()  # reused: it keeps its scaler between frames
        self.size: tuple[int, int] | None = None  # output size (even), set by the first frame
        self.cropped = False
        self._crops: dict[str, Any] = {}  # pixel format -> filter graph cropping an odd first size to even
        self._crop_from: tuple[int, int] | None = None

    @staticmethod
    def _context() -> Any:
        import av

        ctx = av.CodecContext.create("mjpeg", "r")
        ctx.options = {"err_detect": "explode"}  # a damaged frame is an error, not a smeared picture
        return ctx

    def decode(self, jpeg: bytes) -> Any:
        """The decoded frame, or None if the JPEG does not decode cleanly (or is too thin to be the first)."""
        import av

        try:
            frames = self._ctx.decode(av.Packet(jpeg))
        except av.FFmpegError:
            self._ctx = self._context()
            return None
        if not frames:
            return None
        if self.size is None and (frames[0].width < 2 or frames[0].height < 2):
            return None  # an H.264 picture is at least 2x2: a thinner first frame cannot set the size
        return frames[0]

    def convert(self, frame: Any) -> tuple[Any, bool]:
        """The frame as yuv420p (limited range) at the output size; True if it had to be scaled."""
        from av.video.reformatter import ColorRange

        if self.size is None:
            self.size = (frame.width & ~1, frame.height & ~1)
            self.cropped = self.size != (frame.width, frame.height)
            if self.cropped:
                self._crop_from = (frame.width, frame.height)
        full = frame.format.name.startswith("yuvj") or frame.color_range == ColorRange.JPEG
        src_range = ColorRange.JPEG if full else ColorRange.MPEG
        scaled = False
        if (frame.width, frame.height) == self._crop_from:
            crop = self._crops.get(frame.format.name) or self._crops.setdefault(
                frame.format.name, self._crop_graph(frame)
            )
            crop.push(frame)
            frame = crop.pull()
        elif (frame.width, frame.height) != self.size:
            scaled = True
        width, height = self.size
        out = self._reformatter.reformat(
            frame,
            width=width,
            height=height,
            format="yuv420p",
            src_color_range=src_range,
            dst_color_range=ColorRange.MPEG,
            threads=1,
        )
        return out, scaled

    def _crop_graph(self, frame: Any) -> Any:
        from av.filter import Graph

        graph = Graph()
        src = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format, time_base=TIME_BASE)
        crop = graph.add("crop", f"w={self.size[0]}:h={self.size[1]}:x=0:y=0")  # type: ignore[index]
        sink = graph.add("buffersink")
        src.link_to(crop)
        crop.link_to(sink)
        graph.configure()
        return graph


def _decoded_frames(
    images: Iterator[_Image], clock: FrameClock, tally: _Tally, decoder: _Decoder
) -> Generator[tuple[int, Any], None, None]:
    """Frames for the H.264 path: decoded, converted, and only then placed on the clock."""
    for image in images:
        frame = decoder.decode(image.jpeg)
        if frame is None:
            tally.skipped["corrupt"] += 1
            continue
        frame, scaled = decoder.convert(frame)
        tally.rescaled += scaled
        clock.accept(image.t_ns, image.tick)
        yield image.tick, frame


class _Writer:
    """Muxes frames (H.264: encodes them first) into a container, setting each packet's duration.

    The file is created by `open`, once the first frame gives the size; leaving the
    `with` block without `close` abandons it (the caller removes the file).
    """

    def __init__(self, path: str, container: str, codec: str, time_base: Fraction, **x264: str):
        self._path = path
        self._container = container
        self._codec = codec
        self._x264 = x264
        self._out: Any = None
        self._durations: dict[int, int] = {}
        self._held: Any = None
        self._end = 0
        self.size = (0, 0)
        self.frames = 0
        self.time_base = time_base

    def open(self, size: tuple[int, int]) -> None:
        """Create the file and its video stream of `size`."""
        import av

        mp4 = self._container in ("mp4", "mov")
        options = {"movflags": "+faststart", "movie_timescale": str(_TICKS_PER_S)} if mp4 else {}
        self._out = av.open(self._path, "w", format=self._container, options=options)
        if self._codec == "h264":
            from av.video.reformatter import ColorRange

            stream = self._out.add_stream("libx264", options=self._x264)
            stream.pix_fmt = "yuv420p"
            # Say what the pixels are: JPEG's BT.601 matrix in limited range. Unsaid, players
            # guess BT.709 for frames 720 lines or taller and shift the colours.
            stream.codec_context.color_range = ColorRange.MPEG
            stream.codec_context.colorspace = AVCOL_SPC_BT470BG
        else:
            stream = self._out.add_stream("mjpeg")
            stream.pix_fmt = "yuvj420p"
        stream.width, stream.height = size
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        self._stream = stream
        self.size = size

    def add(self, item: Any, pts: int, duration: int) -> None:
        """Add one frame (a VideoFrame for H.264, an `_Image` for copy) at `pts` lasting `duration`."""
        import av

        self.frames += 1
        if self._codec == "h264":
            from av.video.frame import PictureType

            item.pts = pts
            item.time_base = self.time_base
            item.pict_type = PictureType.NONE  # the decoder marks every JPEG a key frame; let x264 choose
            self._durations[pts] = duration
            self._mux(self._stream.encode(item))
        else:
            packet = av.Packet(item.jpeg)
            packet.stream = self._stream
            packet.time_base = self.time_base
            packet.pts = packet.dts = pts
            packet.duration = duration
            packet.is_keyframe = True
            self._out.mux(packet)

    def _mux(self, packets: list[Any]) -> None:
        # One packet is held back: the last one in decode order gets its duration at `close`.
        for packet in packets:
            packet.duration = self._durations.pop(packet.pts, 0)
            self._end = max(self._end, packet.pts + packet.duration)
            if self._held is not None:
                self._out.mux(self._held)
            self._held = packet

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        try:
            if self._codec == "h264":
                self._mux(self._stream.encode(None))
                if self._held is not None:
                    # With B-frames the last packet to decode is not the last one shown. Stretching it to
                    # the end of the last frame shown makes the track's decode time line (MP4 mdhd) cover
                    # the presentation's (edit list), which ends there; readers take the shorter of them.
                    self._held.duration = max(self._held.duration, self._end - self._held.pts)
                    self._out.mux(self._held)
        finally:
            out, self._out = self._out, None
            out.close()

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        """Close a file left unfinished without flushing (the caller discards it)."""
        if self._out is not None:
            out, self._out = self._out, None
            with contextlib.suppress(Exception):  # the file is thrown away after an earlier error
                out.close()


def _container_for(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in CONTAINERS:
        known = ", ".join(sorted(CONTAINERS))
        raise ValueError(f"{path}: unknown video file extension {suffix!r}; use one of {known}")
    return CONTAINERS[suffix]


def _check_options(codec: str, crf: int, preset: str, fps: float | None) -> None:
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; choose from {', '.join(CODECS)}")
    if not 0 <= crf <= 51:
        raise ValueError(f"crf must be between 0 and 51, not {crf}")
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if fps is not None and not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        raise ValueError(f"fps must be between 1/1001 and {MAX_FPS:g}, not {fps}")


def write_video(
    log: Log | str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    start: TimeBound = None,
    end: TimeBound = None,
    codec: str = "h264",
    crf: int = 23,
    preset: str = "medium",
    fps: float | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> VideoSummary:
    """Write the camera frames of a log (or of its window [start, end)) to a video file.

    `codec` "h264" encodes with libx264 (yuv420p, `crf`, `preset`); "copy" stores the
    JPEGs unchanged. The container comes from `out_path`'s extension (.mp4, .mov,
    .mkv). Frames are at their own timestamps unless `fps` asks for a constant rate.
    `progress(seconds_done, seconds_total)` is called as frames go in, in log seconds
    from the window's start; the total is None when it would take a read of the whole
    log (no end given and no index), and the last call reaches it. The file appears
    only once complete; on any error the pipeline is stopped and no file is left. An
    existing file is replaced only with `overwrite=True` (else `OutputExistsError`).
    Raises `VideoError` when the range holds no usable frame, `WindowError` when the
    window lies outside the log.
    """
    _check_options(codec, crf, preset, fps)
    out = os.fspath(out_path)
    container = _container_for(out)
    if not isinstance(log, Log):
        with open_log(log) as opened:
            return write_video(
                opened,
                out,
                start=start,
                end=end,
                codec=codec,
                crf=crf,
                preset=preset,
                fps=fps,
                overwrite=overwrite,
                progress=progress,
            )
    began = time.perf_counter()
    if start is not None or end is not None:
        log.require_window(start, end)
    origin_ns, total = _progress_window(log, start, end) if progress is not None else (None, None)
    rate = Fraction(fps).limit_denominator(1001) if fps is not None else None
    time_base = 1 / rate if rate is not None else TIME_BASE
    clock = FrameClock()
    tally = _Tally()
    decoder = _Decoder() if codec == "h264" else None
    output = open_output(out, overwrite=overwrite)
    with contextlib.ExitStack() as stack:
        # Undone in reverse: the pipeline (and its decoding thread) stops first, then the
        # unfinished writer is abandoned and its file removed; the log is closed by the caller.
        stack.callback(output.abort)
        tmp = output.hand_over()  # PyAV writes the temporary file by its name
        writer = stack.enter_context(_Writer(tmp, container, codec, time_base, crf=str(crf), preset=preset))

        def stage(generator: Generator[T, None, None]) -> Generator[T, None, None]:
            return stack.enter_context(contextlib.closing(generator))

        images = stage(_images(log, start, end, clock, tally))
        if decoder is not None:
            frames = stage(_in_background(_decoded_frames(images, clock, tally, decoder)))
        else:
            frames = stage(_copy_frames(images, clock, tally))
        timed = stage(schedule(frames, lambda: clock.interval))
        if rate is not None:
            timed = stage(resample(timed, rate))
        for item, pts, duration in timed:
            if not writer.frames:
                size = decoder.size if decoder is not None else item.size
                assert size is not None  # the decoder knows it once it gave a frame
                writer.open(size)
            writer.add(item, pts, duration)
            if progress is not None:
                progress(_seconds_in(clock, origin_ns) + float(pts * time_base), total)
        if not writer.frames:
            raise VideoError(_no_frames_message(log, tally))
        writer.close()
        seconds = float((pts + duration) * time_base)
        if progress is not None:  # all done: a known total is reached even where the frames end before it
            progress(total if total is not None else _seconds_in(clock, origin_ns) + seconds, total)
        output.commit()
    return VideoSummary(
        path=out,
        container=container,
        codec="h264" if codec == "h264" else "mjpeg",
        width=writer.size[0],
        height=writer.size[1],
        frames=writer.frames,
        images=tally.images,
        duration=seconds,
        size=os.path.getsize(out),
        fps=float(rate) if rate is not None else None,
        skipped=tally.skipped,
        rescaled=tally.rescaled,
        cropped=decoder.cropped if decoder is not None else False,
        clock_steps=clock.clock_steps,
        truncation=log.truncation,  # known once the log has been read
        elapsed=time.perf_counter() - began,
    )


def _seconds_in(clock: FrameClock, origin_ns: int | None) -> float:
    """Seconds from where progress counts to the video's first frame."""
    if origin_ns is None or clock.first_ns is None:
        return 0.0
    return max(0.0, (clock.first_ns - origin_ns) / 1e9)


def _progress_window(log: Log, start: TimeBound, end: TimeBound) -> tuple[int | None, float | None]:
    """Where progress counts from (log time, Unix ns) and the seconds it counts to, each None when unknown.

    The end of the log is only asked of an index (container or sidecar): without one
    it would take a read of the whole log, so the total is then unknown.
    """
    lo, hi = log.window_ns(start, end) if start is not None or end is not None else (None, None)
    indexed = log.has_index
    if lo is None and indexed:
        lo = log.start_ns
    if indexed:
        log_end = log.summary().end_ns
        hi = log_end if hi is None or log_end is None else min(hi, log_end)
    if lo is None or hi is None:
        return lo, None
    return lo, max(0.0, (hi - lo) / 1e9)


def _no_frames_message(log: Log, tally: _Tally) -> str:
    if not tally.images:
        return f"{log.path}: no camera frames in the chosen range"
    return f"{log.path}: none of the {tally.images} camera frames in range is usable ({_reasons(tally.skipped)})"


def _reasons(skipped: dict[str, int]) -> str:
    return ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in skipped.items() if n)
