"""`pdlogkit video` and the original `pdlog --video`: a video of a log's camera frames."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from typing import TextIO

from ..video import CODECS, PRESETS, Overlay, VideoSummary, write_video
from .common import Progress, fmt_bytes, fmt_duration, print_json, reports_truncation, run, time_bound


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `video`."""
    p = subparsers.add_parser(
        "video",
        help="write a log's camera frames to a video (H.264 MP4, or the JPEGs as they are)",
        description="Write a log's camera frames to a video, each frame at its own timestamp "
        "(variable frame rate) unless --fps asks for a constant rate. The container comes from OUT's "
        "extension: .mp4, .mov or .mkv. Frames without a timestamp, out of order, corrupt or (with copy) "
        "of another size are skipped and counted.",
    )
    p.add_argument("log", metavar="LOG", help="the log to read")
    p.add_argument("out", metavar="OUT", help="the video file to write (.mp4, .mov, .mkv)")
    p.add_argument("--start", type=time_bound, metavar="S", help="begin S seconds after the log's start")
    p.add_argument("--end", type=time_bound, metavar="S", help="end S seconds after the log's start")
    p.add_argument(
        "--codec",
        choices=CODECS,
        default="h264",
        help="h264: encode (default); copy: store the JPEGs unchanged (lossless, fast; .mov or .mkv advised)",
    )
    p.add_argument("--crf", type=int, default=23, metavar="N", help="H.264 quality, 0-51, lower is better (default 23)")
    p.add_argument("--preset", choices=PRESETS, default="medium", help="H.264 speed/size trade-off (default medium)")
    p.add_argument("--fps", type=float, metavar="N", help="constant frame rate N instead of the frames' own times")
    p.add_argument(
        "--overlay",
        nargs="*",
        choices=OVERLAY_EXTRAS,
        metavar="EXTRA",
        help="draw on each frame the log's clock, the marker in force and the driven electrodes where they are "
        "in the picture (H.264 only); 'capacitance' adds a live plot of active capacitance. Put it after LOG OUT",
    )
    p.add_argument(
        "--board",
        metavar="NAME",
        help="the board definition for --overlay: a path, NAME.json, ~/.config/purpledrop/boards/NAME.json or a "
        "shipped one (misl_v6, ...); default: the one the log names in its metadata",
    )
    p.add_argument("--local-time", action="store_true", help="--overlay shows local time instead of UTC")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_video)


#: What `--overlay` may add to the clock, the marker and the electrodes.
OVERLAY_EXTRAS = ("capacitance",)


def _overlay(args: argparse.Namespace) -> Overlay | None:
    if args.overlay is None:
        if args.board is not None or args.local_time:
            raise ValueError("--board and --local-time go with --overlay")
        return None
    timezone = dt.datetime.now().astimezone().tzinfo if args.local_time else None
    return Overlay(board=args.board, capacitance="capacitance" in args.overlay, timezone=timezone)


@reports_truncation
def _video(args: argparse.Namespace) -> int:
    return _write(args, _overlay(args))


def _write(args: argparse.Namespace, overlay: Overlay | None) -> int:
    with Progress(None, "video", unit="s") as bar:

        def progress(done: float, total: float | None) -> None:
            bar.total = total
            bar.update(done)

        summary = write_video(
            args.log,
            args.out,
            start=args.start,
            end=args.end,
            codec=args.codec,
            crf=args.crf,
            preset=args.preset,
            fps=args.fps,
            overwrite=args.force,
            progress=progress if bar.enabled else None,
            overlay=overlay,
        )
    if args.json:
        print_json(summary.to_dict())
    else:
        print_summary(summary)
    return 0


def print_summary(summary: VideoSummary, stream: TextIO | None = None) -> None:
    """The human summary of a written video: what, how long, how big, and what was left out."""
    out = stream or sys.stdout
    rate = f"{summary.fps:g} fps" if summary.fps else "frames at their own times"
    print(
        f"{summary.path}: {summary.frames} frames, {fmt_duration(summary.duration)} ({summary.duration:.3f} s), "
        f"{summary.width}x{summary.height} {summary.codec} in {summary.container}, {rate}, {fmt_bytes(summary.size)}",
        file=out,
    )
    if summary.skipped_total:
        print(f"skipped {summary.skipped_total} of {summary.images} frames: {summary.skipped_text}", file=out)
    if summary.rescaled:
        print(f"scaled {summary.rescaled} frames of another size to {summary.width}x{summary.height}", file=out)
    if summary.cropped:
        print(f"cropped to even dimensions {summary.width}x{summary.height} for H.264", file=out)
    if summary.truncation:
        print(f"log cut short, {summary.truncation}: the frames before it are in the video", file=out)
    if summary.clock_steps:
        print(f"{summary.clock_steps} host clock steps back: the video carries on across them", file=out)
    if summary.overlay is not None:
        report = summary.overlay
        drawn = "clock, marker" + (", capacitance plot" if report.capacitance else "")
        if report.board is not None:
            drawn += f", electrodes from {report.board} (in place on {report.in_place} frames"
            drawn += f", in an inset on {report.inset} not registered)" if report.inset else ")"
        print(f"overlay: {drawn}", file=out)
        for note in report.notes:
            print(f"overlay: {note}", file=out)


def pdlog_main(argv: Sequence[str] | None = None) -> int:
    """`pdlog --video OUT.mp4 LOGFILE`: the original tool's interface, run as `pdlogkit video` with its defaults."""
    parser = argparse.ArgumentParser(prog="pdlog", description="Work with PurpleDrop event logs.")
    parser.add_argument(
        "--video",
        metavar="OUT.mp4",
        required=True,
        help="write the log's camera frames to this video file (H.264; .mp4, .mov or .mkv)",
    )
    parser.add_argument("logfile", metavar="LOGFILE")
    parser.add_argument("--force", action="store_true", help="replace the video file if it exists")
    args = parser.parse_args(argv)
    # The same arguments as `pdlogkit video LOGFILE OUT`, defaults and all.
    commands = argparse.ArgumentParser(prog="pdlog")
    register(commands.add_subparsers())
    video = commands.parse_args(["video", *(["--force"] if args.force else []), "--", args.logfile, args.video])
    return run(_video, video, prog="pdlog")
