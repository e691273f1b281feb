"""Benchmark the timeline figure of an hour-long log against reading the events it shows.

An hour of synthetic stream with the camera (1024x768 frames at 10 frames/s: a
4.4 GB indexed container) is plotted to a PNG. The reference, in the same run, reads
every event of the plotted kinds from the same file without parsing it: the floor
any figure of those kinds pays. Each run is a fresh process (cold imports included);
bytes read are the process's own (/proc/self/io rchar), to show that the camera
frames are never read.

    flock /tmp/pdlogkit-bench.lock python tools/bench_plot.py [--seconds 3600] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from pdlogkit.synth import write_log

DATA = Path("/work/bench-data")

READ = """
from pdlogkit import open_log
from pdlogkit.plot import PLOT_KINDS
n = 0
with open_log(LOG) as log:
    for event in log.events(kinds=PLOT_KINDS):
        n += len(event.payload)
"""
GATHER = """
from pdlogkit import open_log
from pdlogkit.plot import PLOT_KINDS
from pdlogkit.plot.data import gather
with open_log(LOG) as log:
    gather(log, PLOT_KINDS)
"""
PLOT = """
from pdlogkit.plot import save_timeline
save_timeline(LOG, OUT, overwrite=True)
"""
RUNS = {"read the plotted kinds (reference)": READ, "gather the figure's data": GATHER, "the figure, as a PNG": PLOT}


def make_log(seconds: float) -> Path:
    """An hour (or `seconds`) of synthetic stream with the camera, as a container (cached between runs)."""
    path = DATA / f"plot-{seconds:g}s.pdlz"
    if not path.exists():
        tmp = path.with_name(f"{path.stem}.tmp.pdlz")
        write_log(tmp, seconds, seed=21)
        tmp.rename(path)
    return path


def measure(body: str, log: Path, out: Path) -> tuple[float, int]:
    """Wall seconds of a fresh process running `body`, and the bytes it read."""
    code = (
        f"LOG, OUT = {str(log)!r}, {str(out)!r}\n{body}\n"
        "import json, sys\n"
        "io = dict(line.split(': ') for line in open('/proc/self/io').read().splitlines())\n"
        "print(json.dumps(int(io['rchar'])), file=sys.stderr)\n"
    )
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode:
        sys.exit(f"failed:\n{done.stderr}")
    return wall, int(json.loads(done.stderr.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3600.0, help="length of the log (default 3600)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, best kept (default 3)")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    log = make_log(args.seconds)
    out = DATA / "out"
    out.mkdir(exist_ok=True)
    best: dict[str, tuple[float, int]] = {}
    for _ in range(args.repeat):  # interleaved, so all see the same machine load
        for name, body in RUNS.items():
            result = measure(body, log, out / "timeline.png")
            if name not in best or result[0] < best[name][0]:
                best[name] = result
    size = log.stat().st_size
    print(f"{args.seconds:g} s synthetic log with camera, {size / 1e9:.2f} GB container; best of {args.repeat}")
    print(f"| {'run':<36} | {'wall s':>7} | {'read MB':>8} | {'of the file':>11} |")
    print(f"|{'-' * 38}|{'-' * 9}|{'-' * 10}|{'-' * 13}|")
    for name, (wall, read) in best.items():
        print(f"| {name:<36} | {wall:>7.2f} | {read / 1e6:>8.1f} | {read / size:>10.2%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
