"""`write_video`: a log's camera frames to a video file, H.264 (or the JPEGs as they are), each frame at its
own time, optionally with an overlay of what the device was doing.

The pipeline: `frames` reads the image events (and, for an overlay, the events a
scene is made of) and decodes them in a background thread, `overlay` draws on the
decoded frames there, `timing` places them on the video's clock, and `encoder`
encodes and muxes them into the output, which `files.output` writes atomically.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import time
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import VideoError
from ..files.output import open_output, refuse_inputs
from ..formats.common import Truncation
from ..log import Log, TimeBound, open_log
from .encoder import CODECS, PRESETS, VideoWriter, container_for
from .frames import SKIP_REASONS, Decoder, Tally, camera_frames, copy_frames, decoded_frames, in_background
from .overlay import Overlay, OverlayReport, resolve_board
from .scene import CAPACITANCE_KIND, CAPACITANCE_SECONDS, SCENE_KINDS, SceneTracker
from .timing import TIME_BASE, FrameClock, resample, schedule

if TYPE_CHECKING:
    from .painter import OverlayPainter

#: The constant frame rates `fps` accepts: one frame in 1001 s up to 1000 frames a second.
MIN_FPS = 1 / 1001
MAX_FPS = 1000

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
    overlay: OverlayReport | None = None  # what the overlay drew (None: no overlay)

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


def _check_options(codec: str, crf: int, preset: str, fps: float | None) -> None:
    """Refuse bad options before any work (ValueError naming the choices)."""
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
    overlay: Overlay | bool | None = None,
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

    `overlay` (an `Overlay`, or True for the default one) draws on each frame the
    log's clock, the marker in force and the driven electrodes (see `Overlay`); it
    needs H.264 (the JPEGs are decoded to draw on them) and `BoardError` is raised
    when a board asked for by name cannot be found. What it drew is in
    `VideoSummary.overlay`.
    """
    _check_options(codec, crf, preset, fps)
    options = Overlay() if overlay is True else overlay or None
    if options is not None and codec != "h264":
        raise ValueError("an overlay is drawn on decoded frames: it needs --codec h264, not copy")
    out = os.fspath(out_path)
    container = container_for(out)
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
                overlay=options,
            )
    refuse_inputs(out, [log.path])
    began = time.perf_counter()
    if start is not None or end is not None:
        log.require_window(start, end)
    origin_ns, total = _progress_window(log, start, end) if progress is not None else (None, None)
    rate = Fraction(fps).limit_denominator(1001) if fps is not None else None
    time_base = 1 / rate if rate is not None else TIME_BASE
    clock = FrameClock()
    tally = Tally()
    decoder = Decoder() if codec == "h264" else None
    painter, scenes = _overlay(log, start, options) if options is not None else (None, None)
    output = open_output(out, overwrite=overwrite)
    with contextlib.ExitStack() as stack:
        # Undone in reverse: the pipeline (and its decoding thread) stops first, then the
        # unfinished writer is abandoned and its file removed; the log is closed by the caller.
        stack.callback(output.abort)
        tmp = output.hand_over()  # PyAV writes the temporary file by its name
        writer = stack.enter_context(VideoWriter(tmp, container, codec, time_base, crf=str(crf), preset=preset))

        def stage(generator: Generator[T, None, None]) -> Generator[T, None, None]:
            return stack.enter_context(contextlib.closing(generator))

        images = stage(camera_frames(log, start, end, clock, tally, scenes))
        if decoder is not None:
            frames = stage(in_background(decoded_frames(images, clock, tally, decoder, painter)))
        else:
            frames = stage(copy_frames(images, clock, tally))
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
        overlay=painter.report if painter is not None else None,
    )


def _overlay(log: Log, start: TimeBound, options: Overlay) -> tuple[OverlayPainter, SceneTracker]:
    """The painter and the scene tracker of an overlay, the tracker primed with the state in force at `start`."""
    from .painter import OverlayPainter  # numpy and Pillow: only when an overlay is drawn

    board, note = resolve_board(options.board, log.metadata)
    painter = OverlayPainter(board, timezone=options.timezone, capacitance=options.capacitance)
    if board is None:
        painter.report.notes.append(note)
    scenes = SceneTracker(log.start_ns, log.markers(), capacitance=options.capacitance)
    if start is not None and not _prime(scenes, log, start, options.capacitance):
        painter.report.notes.append(
            "the log is a stream, read once: the electrodes driven before the window are shown from its "
            "first electrode_state on"
        )
    return painter, scenes


def _prime(scenes: SceneTracker, log: Log, start: TimeBound, capacitance: bool) -> bool:
    """Feed `scenes` the state in force at the window's start, from a second reader; False for a stream."""
    try:
        before = log.reopen()
    except ValueError:
        return False
    with before:
        latest = {}
        for event in before.events(kinds=SCENE_KINDS, end=start):
            latest[event.kind] = event
        for event in latest.values():
            scenes.feed(event)
        lo, _ = log.window_ns(start, None)
        if capacitance and lo is not None:
            since = dt.datetime.fromtimestamp((lo - CAPACITANCE_SECONDS * 1e9) / 1e9, dt.timezone.utc)
            for event in before.events(kinds=[CAPACITANCE_KIND], start=since, end=start):
                scenes.feed(event)
    return True


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


def _no_frames_message(log: Log, tally: Tally) -> str:
    if not tally.images:
        return f"{log.path}: no camera frames in the chosen range"
    return f"{log.path}: none of the {tally.images} camera frames in range is usable ({_reasons(tally.skipped)})"


def _reasons(skipped: dict[str, int]) -> str:
    return ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in skipped.items() if n)
