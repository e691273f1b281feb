"""The frames pipeline: a log's camera frames, checked, placed on the clock and (for H.264) decoded.

Bad frames are never fatal, each is counted under a reason in a `Tally`:

- ``no_timestamp``: the image carries no (or a zero) timestamp;
- ``out_of_order``: its timestamp is not after the previous frame's (a step back
  of more than `CLOCK_STEP_NS` is a host clock step instead: the video carries on
  one frame interval later and the clock counts it);
- ``corrupt``: the payload does not parse, is not a whole JPEG, or (H.264) does
  not decode cleanly or, as the first frame, is under 2 pixels wide or high;
- ``size_mismatch`` (copy only): its size differs from the first frame's. With
  H.264 such a frame is scaled to the first frame's size and counted in `rescaled`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ..errors import LogFormatError
from ..events import Event
from ..log import Log, TimeBound
from .scene import Scene, SceneTracker
from .timing import TIME_BASE, FrameClock

SKIP_REASONS = ("no_timestamp", "out_of_order", "corrupt", "size_mismatch")

# Start-of-frame markers that carry the image size (all SOFn but DHT, JPG and DAC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE_MARKERS = frozenset(range(0xD0, 0xD8)) | {0x01, 0xD8}

T = TypeVar("T")


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


_DONE = object()


@dataclass
class _Failure:
    exc: BaseException


def in_background(items: Iterator[T], depth: int = 4) -> Generator[T, None, None]:
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
class CameraFrame:
    """An image event that may go into the video: its time, tick, JPEG, size, and what to draw on it."""

    t_ns: int
    tick: int
    jpeg: bytes
    size: tuple[int, int]
    scene: Scene | None = None


class Tally:
    """Counts while frames flow: images seen, skips by reason."""

    def __init__(self) -> None:
        self.images = 0
        self.skipped = dict.fromkeys(SKIP_REASONS, 0)
        self.rescaled = 0


def camera_frames(
    log: Log,
    start: TimeBound,
    end: TimeBound,
    clock: FrameClock,
    tally: Tally,
    scenes: SceneTracker | None = None,
) -> Generator[CameraFrame, None, None]:
    """The range's image events with a timestamp, in order and whole-JPEG-shaped; the rest counted.

    With `scenes`, the events an overlay needs are read in the same pass and each
    frame carries the scene at its time.
    """
    kinds = ["image", *scenes.kinds] if scenes is not None else ["image"]
    for event in log.events(kinds=kinds, start=start, end=end):
        if event.kind != "image":
            assert scenes is not None
            scenes.feed(event)
            continue
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
        yield CameraFrame(t_ns, tick, jpeg, size, scenes.scene(t_ns) if scenes is not None else None)


def _unreadable(event: Event) -> bool:
    try:
        event.message  # noqa: B018 - parsing it is the check
    except LogFormatError:
        return True
    return False


def copy_frames(
    images: Iterator[CameraFrame], clock: FrameClock, tally: Tally
) -> Generator[tuple[int, CameraFrame], None, None]:
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


class Decoder:
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


class Painter(Protocol):
    """Draws on a decoded frame (yuv420p, the video's size) what its scene shows."""

    def paint(self, frame: Any, scene: Scene, picture_size: tuple[int, int]) -> None: ...


def decoded_frames(
    images: Iterator[CameraFrame],
    clock: FrameClock,
    tally: Tally,
    decoder: Decoder,
    painter: Painter | None = None,
) -> Generator[tuple[int, Any], None, None]:
    """Frames for the H.264 path: decoded, converted, drawn on, and only then placed on the clock."""
    for image in images:
        frame = decoder.decode(image.jpeg)
        if frame is None:
            tally.skipped["corrupt"] += 1
            continue
        picture_size = (frame.width, frame.height)
        frame, scaled = decoder.convert(frame)
        tally.rescaled += scaled
        if painter is not None and image.scene is not None:
            painter.paint(frame, image.scene, picture_size)
        clock.accept(image.t_ns, image.tick)
        yield image.tick, frame
