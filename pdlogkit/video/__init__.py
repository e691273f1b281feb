"""Video from a log's camera frames: H.264 (or the JPEGs as they are), each frame at its own time, optionally
with the log's clock, the marker in force and the driven electrodes drawn in.

    write_video("run.bin", "run.mp4")                                  # frames at their own times
    write_video("run.bin", "run.mp4", overlay=Overlay(board="misl_v6")) # with the overlay

The package by concern: `timing` (pure: where frames go on the video's clock),
`frames` (the image events checked, decoded and counted), `scene` (pure: what an
overlay shows at a moment), `overlay` (drawing it on decoded frames), `encoder`
(encoding and muxing), `write` (`write_video`, `VideoSummary`).
"""

from .encoder import CODECS, CONTAINERS, PRESETS
from .frames import SKIP_REASONS, jpeg_size
from .overlay import Overlay, OverlayReport
from .scene import Registration, Scene, SceneTracker
from .timing import TIME_BASE, FrameClock, resample, schedule
from .write import MAX_FPS, MIN_FPS, VideoSummary, write_video

__all__ = [
    "CODECS",
    "CONTAINERS",
    "MAX_FPS",
    "MIN_FPS",
    "PRESETS",
    "SKIP_REASONS",
    "TIME_BASE",
    "FrameClock",
    "Overlay",
    "OverlayReport",
    "Registration",
    "Scene",
    "SceneTracker",
    "VideoSummary",
    "jpeg_size",
    "resample",
    "schedule",
    "write_video",
]
