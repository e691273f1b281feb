"""The encoder and muxer: frames into a video file (H.264 encoded with libx264, or the JPEGs as they are)."""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path
from typing import Any

from .timing import TICKS_PER_S

# PyAV is imported where it is used: the command line loads this package for every command.

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

#: Output container by file extension.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}

#: FFmpeg's AVColorSpace for BT.601 (625-line): the matrix of JPEG (JFIF) frames.
AVCOL_SPC_BT470BG = 5


class VideoWriter:
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
        options = {"movflags": "+faststart", "movie_timescale": str(TICKS_PER_S)} if mp4 else {}
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
        """Add one frame (a VideoFrame for H.264, a `CameraFrame` for copy) at `pts` lasting `duration`."""
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

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        """Close a file left unfinished without flushing (the caller discards it)."""
        if self._out is not None:
            out, self._out = self._out, None
            with contextlib.suppress(Exception):  # the file is thrown away after an earlier error
                out.close()


def container_for(path: str) -> str:
    """The container format for a video file, from its extension (ValueError naming the known ones)."""
    suffix = Path(path).suffix.lower()
    if suffix not in CONTAINERS:
        known = ", ".join(sorted(CONTAINERS))
        raise ValueError(f"{path}: unknown video file extension {suffix!r}; use one of {known}")
    return CONTAINERS[suffix]
