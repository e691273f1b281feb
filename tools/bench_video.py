"""Benchmark `pdlogkit video` against the ffmpeg command-line tool on the same JPEG frames, and the overlay
against the plain H.264 video of the same frames.

Both get the same frames with the same timing (ffmpeg from a concat list with each
frame's duration) and the same codec settings (libx264, yuv420p, crf, preset,
faststart; or the JPEGs copied into a .mov). Each run is a separate process, so
the wall time includes start-up and the peak memory is the process's own. The
overlay runs (`--overlay`, and `--overlay capacitance`) draw the synthetic board's
driven electrodes through each frame's registration, interleaved with the plain
runs so that all see the same machine load.

    flock /tmp/pdlogkit-bench.lock python tools/bench_video.py [--frames 300] [--size 1024x768]

Needs `ffmpeg` on PATH (Debian: apt-get install ffmpeg); pdlogkit itself never runs it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pdlogkit import open_log
from pdlogkit.files.sidecar import sidecar_path, write_sidecar
from pdlogkit.synth import write_log

DATA = Path("/work/bench-data")


def make_log(frames: int, size: tuple[int, int], fps: float, suffix: str = ".bin") -> Path:
    """A synthetic log with `frames` camera frames (cached between runs; the format from `suffix`)."""
    # "-board": the synthetic camera's transforms register its board (older cached logs' did not).
    path = DATA / f"video-{frames}-{size[0]}x{size[1]}-board{suffix}"
    if not path.exists():
        tmp = path.with_name(f"{path.stem}.tmp{suffix}")
        write_log(tmp, frames / fps + 0.05, fps=fps, frame_size=size, seed=11)
        tmp.rename(path)
    return path


def make_concat(log: Path) -> tuple[Path, int]:
    """The log's JPEGs as files and an ffconcat list giving each its duration (as long as to the next one)."""
    folder = log.with_suffix(".frames")
    listing = folder / "list.ffconcat"
    if not listing.exists():
        folder.mkdir(exist_ok=True)
        lines = ["ffconcat version 1.0"]
        previous: int | None = None
        with open_log(log) as opened:
            for i, event in enumerate(opened.events(kinds=["image"])):
                (folder / f"{i:06d}.jpg").write_bytes(event.message.image.image_data)
                if previous is not None:
                    lines.append(f"duration {(event.time_ns - previous) / 1e9:.6f}")
                lines.append(f"file {i:06d}.jpg")
                previous = event.time_ns
        listing.write_text("\n".join(lines) + "\n")
    return listing, sum(1 for line in listing.read_text().splitlines() if line.startswith("file "))


def _peak_mb(pid: int) -> float | None:
    """The process's peak resident memory so far (VmHWM: of its own image, not the parent it was forked from)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def measure(cmd: list[str]) -> tuple[float, float, str]:
    """Run a command; its wall time in s, peak resident memory in MB, and what it printed on stderr.

    The peak is polled from /proc while it runs (wait4's ru_maxrss would count the
    Python parent's memory, which the child has until it execs).
    """
    began = time.perf_counter()
    with tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err_file)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, _peak_mb(proc.pid) or 0.0)
            time.sleep(0.005)
        wall = time.perf_counter() - began
        err_file.seek(0)
        err = err_file.read().decode(errors="replace")
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return wall, peak, err


#: The overlay runs: what `write_video` gets as `overlay=` (the synthetic board: the benchmark's classic logs
#: hold no metadata).
OVERLAYS = {
    "+ overlay": "Overlay(board=Board(board_definition()))",
    "+ overlay+plot": "Overlay(board=Board(board_definition()), capacitance=True)",
}


def ours(log: Path, out: Path, codec: str, crf: int, preset: str, window: str = "", overlay: str = "None") -> list[str]:
    code = (
        "import sys; from pdlogkit.video import Overlay, write_video; from pdlogkit.boards import Board; "
        "from pdlogkit.synth import board_definition; "
        f"s = write_video({str(log)!r}, {str(out)!r}, codec={codec!r}, crf={crf}, preset={preset!r}{window}, "
        "overwrite=True, "
        f"overlay={overlay}); "
        "print(f'{s.elapsed:.4f}', file=sys.stderr)"
    )
    return [sys.executable, "-c", code]


def ffmpeg(listing: Path, out: Path, codec: str, crf: int, preset: str) -> list[str]:
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0"]
    cmd += ["-i", str(listing)]
    if codec == "copy":
        return [*cmd, "-c:v", "copy", str(out)]
    x264 = ["-c:v", "libx264", "-crf", str(crf), "-preset", preset, "-pix_fmt", "yuv420p", "-fps_mode", "vfr"]
    return [*cmd, *x264, "-movflags", "+faststart", str(out)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=300, help="camera frames (default 300)")
    parser.add_argument("--copy-frames", type=int, default=3000, help="frames for the copy runs (default 3000)")
    parser.add_argument("--size", default="1024x768", help="frame size WxH (default 1024x768)")
    parser.add_argument("--fps", type=float, default=10.0, help="camera frame rate of the log (default 10)")
    parser.add_argument("--crf", type=int, default=23)
    parser.add_argument("--preset", default="medium")
    parser.add_argument(
        "--memory-frames", action="store_true", help="also encode the copy runs' long log to H.264 (peak memory)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, best kept (default 3)")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg not found on PATH (Debian: apt-get install ffmpeg)")
    size = tuple(int(v) for v in args.size.split("x"))
    DATA.mkdir(parents=True, exist_ok=True)
    out = DATA / "out"
    out.mkdir(exist_ok=True)

    long_log = make_log(args.copy_frames, size, args.fps)  # type: ignore[arg-type]  # the copy runs' log
    rows = []
    overlays: list[tuple[str, float, float]] = []  # (run, wall / plain wall, in-process / plain in-process)
    for codec, n, ext in (("h264", args.frames, "mp4"), ("copy", args.copy_frames, "mov")):
        log = make_log(n, size, args.fps)  # type: ignore[arg-type]
        listing, count = make_concat(log)
        best: dict[str, tuple[float, float, str]] = {}
        runs = [
            ("ffmpeg", ffmpeg(listing, out / f"ffmpeg.{ext}", codec, args.crf, args.preset)),
            ("pdlogkit", ours(log, out / f"pdlogkit.{ext}", codec, args.crf, args.preset)),
        ]
        if codec == "h264":
            runs += [
                (name, ours(log, out / f"overlay.{ext}", codec, args.crf, args.preset, overlay=overlay))
                for name, overlay in OVERLAYS.items()
            ]
        for _ in range(args.repeat):  # interleaved, so all see the same machine load
            for tool, cmd in runs:
                result = measure(cmd)
                if tool not in best or result[0] < best[tool][0]:
                    best[tool] = result
        for tool, _ in runs:
            wall, peak, err = best[tool]
            work = float(err.split()[-1]) if tool != "ffmpeg" else None  # write_video's own time
            rows.append((tool, codec, count, wall, count / wall, peak, work))
            if tool in OVERLAYS:
                plain = float(best["pdlogkit"][2].split()[-1])
                overlays.append((tool, wall / best["pdlogkit"][0], work / plain if work else 0.0))
        ratio = best["ffmpeg"][0] / best["pdlogkit"][0]
        rows.append(("ratio", codec, count, None, ratio, None, None))

    if args.memory_frames:  # memory stays flat with the log's length: H.264 on the long log too
        wall, peak, err = measure(ours(long_log, out / "long.mp4", "h264", args.crf, args.preset))
        count = make_concat(long_log)[1]
        rows.append(("pdlogkit", "h264", count, wall, count / wall, peak, float(err.split()[-1])))

    # --start/--end through the log's index: the last 10 s of the long log, scanned / sidecar / container.
    end = args.copy_frames / args.fps
    window = f", start={end - 10}, end={end}"
    cuts = []
    classic = DATA / "cut-classic.bin"
    shutil.copyfile(long_log, classic)
    indexed = make_log(args.copy_frames, size, args.fps, suffix=".pdlz")  # type: ignore[arg-type]
    for label, path in (("classic, scan", classic), ("classic+sidecar", classic), ("indexed .pdlz", indexed)):
        if label == "classic+sidecar":
            write_sidecar(classic)
        _, _, err = measure(ours(path, out / "cut.mov", "copy", args.crf, args.preset, window))
        cuts.append((label, float(err.split()[-1])))
    Path(sidecar_path(classic)).unlink()

    cores = len(os.sched_getaffinity(0))
    print(f"{args.size} JPEG frames, crf {args.crf}, preset {args.preset}, best of {args.repeat}, {cores} cores")
    print("wall: the whole process, start-up included; in-process: write_video's own time")
    head = f"| {'tool':<15} | {'codec':<5} | {'frames':>6} | {'wall s':>7} | {'frames/s':>9} | {'peak MB':>7} |"
    print(f"{head} {'in-process frames/s':>19} |")
    print(f"|{'-' * 17}|{'-' * 7}|{'-' * 8}|{'-' * 9}|{'-' * 11}|{'-' * 9}|{'-' * 21}|")
    for tool, codec, count, wall, rate, peak, work in rows:
        if tool == "ratio":
            print(f"| {'speed vs ffmpeg':<15} | {codec:<5} | {'':>6} | {'':>7} | {rate:>8.2f}x | {'':>7} | {'':>19} |")
        else:
            inside = f"{count / work:.0f}" if work else ""
            line = f"| {tool:<15} | {codec:<5} | {count:>6} | {wall:>7.2f} | {rate:>9.0f} | {peak:>7.0f} |"
            print(f"{line} {inside:>19} |")
    print(f"\nThe overlay against the plain H.264 video of the same {args.frames} frames (target: at most 1.25)")
    print(f"| {'run':<15} | {'wall / plain':>12} | {'in-process / plain':>18} |")
    print(f"|{'-' * 17}|{'-' * 14}|{'-' * 20}|")
    for tool, wall_ratio, work_ratio in overlays:
        print(f"| {tool:<15} | {wall_ratio:>12.3f} | {work_ratio:>18.3f} |")
    print(f"\n--start {end - 10:g} --end {end:g} --codec copy on the {args.copy_frames}-frame log ({args.fps:g} fps)")
    print(f"| {'log':<15} | {'write_video s':>13} |")
    print(f"|{'-' * 17}|{'-' * 15}|")
    for label, seconds in cuts:
        print(f"| {label:<15} | {seconds:>13.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
