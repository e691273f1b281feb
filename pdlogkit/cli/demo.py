"""`pdlogkit demo`: the main jobs on built-in data, end to end on this machine."""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError, VideoError, WindowError
from ..log import open_log
from ..ops import find_activity
from ..plot import save_timeline
from ..record import EventRecorder, SegmentSummary
from ..synth import Experiment, SynthGateway
from ..video import Overlay, write_video
from .common import fmt_bytes, positive_seconds

#: The demo's experiment: a burst of 6 drop moves every 10 s or so (a real one idles for minutes).
EXPERIMENT = Experiment(idle=8.0, moves=6, move_every=0.4, first_idle=2.0)
PRE_ROLL, POST_ROLL = 1.0, 1.5


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `demo`."""
    p = subparsers.add_parser(
        "demo",
        help="record a built-in synthetic gateway and show what was recorded",
        description="Start a synthetic PurpleDrop gateway on 127.0.0.1, record segments of its stream with "
        "EventRecorder, show what was recorded and make an MP4 of each segment's camera frames; then record a "
        "synthetic experiment keeping camera frames only around activity, with markers, and make videos of the "
        "active parts. Re-running replaces the demo's own files in DIR.",
    )
    p.add_argument("--out", default="pdlogkit-demo", metavar="DIR", help="where to write (default ./pdlogkit-demo)")
    p.add_argument(
        "--seconds", type=positive_seconds, default=3.0, metavar="S", help="length of each segment (default 3)"
    )
    p.add_argument(
        "--experiment-seconds",
        type=positive_seconds,
        default=20.0,
        metavar="S",
        help="length of the experiment recorded with activity (default 20)",
    )
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _segments(out, args.seconds)
    _activity(out, args.experiment_seconds)
    _pictures(out)
    return 0


def _segments(out: Path, seconds: float) -> None:
    paths = [out / f"segment-{i}.bin" for i in (1, 2, 3)]
    print("Starting a synthetic gateway on 127.0.0.1 (camera at 10 frames/s, hardware-like sensor rates)")
    with SynthGateway() as gateway:
        print(f"  streaming at {gateway.ws_url}")
        # One connection for the whole session; segments are cut from it. The pre-roll
        # keeps the second before each start(), like a dashcam.
        with EventRecorder(gateway.ws_url, pre_roll=1.0, overwrite=True) as rec:
            for path in paths:
                time.sleep(1.0)
                with rec.recording(path) as segment:
                    print(f"  recording {path} for {seconds:g} s ...")
                    time.sleep(seconds)
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
        video = write_video(path, path.with_suffix(".mp4"), preset="veryfast", overwrite=True)
        print(
            f"  {video.path}: {video.frames} frames, {video.duration:.1f} s, "
            f"{video.width}x{video.height}, {fmt_bytes(video.size)}"
        )


def _activity(out: Path, seconds: float) -> None:
    everything, active = out / "everything.pdlz", out / "activity.pdlz"
    for old in [*out.glob("burst-*.pdlz"), *out.glob("active-*.mp4")]:  # this demo's files of an earlier run
        old.unlink()
    print("\nAn experiment: idle stretches, then bursts of drop moves (a synthetic gateway in experiment mode)")
    with SynthGateway(experiment=EXPERIMENT) as gateway:
        # The recorders ask the gateway's control API for its board and device: the logs describe themselves.
        asks = {"rpc_url": gateway.rpc_url, "overwrite": True}
        rolls: dict[str, Any] = {"pre_roll": PRE_ROLL, "post_roll": POST_ROLL, **asks}
        with (
            EventRecorder(gateway.ws_url, **asks) as full,
            EventRecorder(gateway.ws_url, frames="activity", **rolls) as rec,
            EventRecorder(gateway.ws_url, **rolls) as bursts,
        ):
            full.start(everything)
            rec.start(active)
            bursts.start_bursts(str(out / "burst-{n}.pdlz"))
            print(f"  recording {seconds:g} s three ways at once: everything, frames around activity, bursts")
            print(f"  (activity: an electrode move; frames kept from {PRE_ROLL:g} s before to {POST_ROLL:g} s after)")
            steps = iter(["dispense reagent A", "merge drops", "mix", "dispense reagent B", "split", "wash"])
            began = time.monotonic()
            was_active = False
            while time.monotonic() - began < seconds:
                time.sleep(0.1)
                active_now = bool(rec.status().activity)
                if active_now and not was_active:  # a scientist labels each step as it starts
                    label = next(steps, "next step")
                    rec.mark(label, at_second=round(time.monotonic() - began, 1))
                    print(f"    marker: {label!r}")
                was_active = active_now
            kept = rec.stop()
            whole = full.stop()
            files = bursts.stop_bursts()
    _compare(whole, kept, files)
    print("\nMarkers stored inside activity.pdlz:")
    log = open_log(active)
    start = log.start_ns or 0
    for marker in log.markers():
        print(f"  {(marker.time_ns - start) / 1e9:6.1f} s  {marker.text}  {marker.fields}")
    print("\nVideos of the active parts (pdlogkit activity finds the periods; a clip for each):")
    report = find_activity(active, pre_roll=PRE_ROLL, post_roll=POST_ROLL)
    for n, period in enumerate(report.periods, start=1):
        with contextlib.suppress(VideoError, WindowError):  # a period at the very edge may hold no whole frame
            video = write_video(
                log, out / f"active-{n}.mp4", start=period.start, end=period.end, preset="veryfast", overwrite=True
            )
            print(f"  {video.path}: {video.frames} frames, {period.start:.1f}-{period.end:.1f} s of the log")
    log.close()


def _compare(whole: SegmentSummary, kept: SegmentSummary, files: list[SegmentSummary]) -> None:
    saved = 1 - kept.bytes / whole.bytes if whole.bytes else 0.0
    print(f"\n  {whole.path}: {whole.events} events, {fmt_bytes(whole.bytes)} (every frame)")
    print(
        f"  {kept.path}: {kept.events} events, {fmt_bytes(kept.bytes)}: {kept.frames_kept} frames kept, "
        f"{kept.frames_dropped} left out, in {len(kept.windows)} window(s) of activity"
    )
    print(f"  -> {saved:.0%} smaller, every sensor event kept (an hour with 5% activity: about 6% of the size)")
    for f in files:
        span = f.last_time - f.first_time if f.last_time is not None and f.first_time is not None else 0.0
        print(f"  {f.path}: one burst, {f.events} events over {span:.1f} s")


def _pictures(out: Path) -> None:
    """The experiment as pictures: a timeline figure, and a video with the clock, markers and electrodes drawn in."""
    active = out / "activity.pdlz"
    print("\nPictures of the experiment:")
    with open_log(active) as log:
        board = "the board from the log's metadata" if "board" in log.metadata else "no board in the log"
        try:
            figure = save_timeline(log, out / "timeline.png", overwrite=True)
        except MissingDependencyError as exc:  # installed without the plot extra
            print(f"  no timeline figure: {exc}")
        else:
            panels = ", ".join(figure.panels)
            print(f"  {figure.path}: {figure.width}x{figure.height}, panels: {panels}; {figure.markers} markers")
        video = write_video(
            log, out / "overlay.mp4", overlay=Overlay(capacitance=True), preset="veryfast", overwrite=True
        )
        print(f"  {video.path}: {video.frames} frames with the clock, the markers and the driven electrodes ({board})")
    print(f"\nEverything is in {out.resolve()}")
