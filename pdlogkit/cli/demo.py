"""`pdlogkit demo`: the main job on built-in data, end to end on this machine."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..log import open_log
from ..record import EventRecorder
from ..synth import SynthGateway
from ..video import write_video
from .common import fmt_bytes


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `demo`."""
    p = subparsers.add_parser(
        "demo",
        help="record a built-in synthetic gateway and show what was recorded",
        description="Start a synthetic PurpleDrop gateway on 127.0.0.1, record segments of its stream with "
        "EventRecorder, show what was recorded, and make an MP4 of each segment's camera frames.",
    )
    p.add_argument("--out", default="pdlogkit-demo", metavar="DIR", help="where to write (default ./pdlogkit-demo)")
    p.add_argument("--seconds", type=float, default=3.0, metavar="S", help="length of each segment (default 3)")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"segment-{i}.bin" for i in (1, 2, 3)]
    print("Starting a synthetic gateway on 127.0.0.1 (camera at 10 frames/s, hardware-like sensor rates)")
    with SynthGateway() as gateway:
        print(f"  streaming at {gateway.ws_url}")
        # One connection for the whole session; segments are cut from it. The pre-roll
        # keeps the second before each start(), like a dashcam.
        with EventRecorder(gateway.ws_url, pre_roll=1.0) as rec:
            for path in paths:
                time.sleep(1.0)
                with rec.recording(path) as segment:
                    print(f"  recording {path} for {args.seconds:g} s ...")
                    time.sleep(args.seconds)
                s = segment.summary
                assert s is not None
                print(f"    {s.events} events ({s.pre_roll_events} from the pre-roll), {fmt_bytes(s.bytes)}")
    print("\nWhat was recorded:")
    for path in paths:
        summary = open_log(path).summary()
        kinds = ", ".join(f"{kind} {n}" for kind, n in summary.counts.items())
        print(f"  {path}: {summary.events} events over {summary.duration:.1f} s, {fmt_bytes(summary.file_size)}")
        print(f"    {kinds}")
    print("\nVideos of the camera frames (each frame at its own timestamp):")
    for path in paths:
        video = write_video(path, path.with_suffix(".mp4"), preset="veryfast")
        print(
            f"  {video.path}: {video.frames} frames, {video.duration:.1f} s, "
            f"{video.width}x{video.height}, {fmt_bytes(video.size)}"
        )
    return 0
