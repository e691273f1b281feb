"""The recorder tells the truth when writing fails: what its summary says is what the file holds, and a FIFO
without a reader is refused at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import pytest

from pdlogkit import open_log
from pdlogkit.synth import SynthGateway

PDLOGKIT = [sys.executable, "-m", "pdlogkit"]


@pytest.fixture(scope="module")
def gateway():
    with SynthGateway(frame_size=(96, 64)) as gw:
        yield gw


FILLS_UP = textwrap.dedent(
    """
    import json, resource, signal, sys, time
    from pdlogkit import EventRecorder, RecordingFailed
    # The file may grow to 150 kB, then every write fails (EFBIG), as on a disk that fills up.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))
    rec = EventRecorder(sys.argv[1], rpc_url="http://127.0.0.1:9/rpc")
    rec.start(sys.argv[2])
    deadline = time.monotonic() + 60
    while not rec.status().failed and time.monotonic() < deadline:
        time.sleep(0.05)
    status = rec.status()
    try:
        rec.stop()
    except RecordingFailed as exc:
        print(json.dumps({"failed": status.failed, "last_error": status.last_error, "events": exc.summary.events,
                          "counts": exc.summary.counts, "message": str(exc)}))
    rec.close()
    """
)


@pytest.mark.parametrize("name", ["full.bin", "full.pdlz"])
def test_after_a_full_disk_the_summary_counts_exactly_the_events_in_the_file(gateway, tmp_path, name):
    path = tmp_path / name
    result = subprocess.run(
        [sys.executable, "-c", FILLS_UP, gateway.ws_url, str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["failed"] and "File too large" in report["last_error"]  # said while the error waits
    assert "File too large" in report["message"] and str(path) in report["message"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the file ends inside the record or chunk that did not fit
        events = list(open_log(path, lenient=True))
    assert report["events"] == len(events) > 0
    kinds: dict[str, int] = {}
    for event in events:
        kinds[event.kind] = kinds.get(event.kind, 0) + 1
    assert report["counts"] == kinds


def test_recording_into_a_fifo_without_a_reader_fails_at_once_with_a_clear_message(gateway, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = subprocess.run(
        [*PDLOGKIT, "record", gateway.ws_url, str(fifo), "--duration", "30", "--rpc-url", "http://127.0.0.1:9/rpc"],
        capture_output=True,
        text=True,
        timeout=60,  # the recording would last 30 s: failing at once ends well before
    )
    assert result.returncode == 1
    assert "no process is reading this FIFO" in result.stderr and str(fifo) in result.stderr
    assert "Traceback" not in result.stderr


def _catches_sigterm(pid: int) -> bool:
    """Whether a process has a handler of its own for SIGTERM (Linux: the SigCgt mask in /proc)."""
    with open(f"/proc/{pid}/status") as f:
        caught = next(line for line in f if line.startswith("SigCgt:")).split()[1]
    return bool(int(caught, 16) & (1 << (signal.SIGTERM - 1)))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc to see the signal handlers")
def test_sigterm_while_waiting_for_a_gateway_stops_the_command(tmp_path):
    proc = subprocess.Popen(
        [*PDLOGKIT, "record", "ws://127.0.0.1:9", str(tmp_path / "x.bin"), "--connect-timeout", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _catches_sigterm(proc.pid):  # the command is up and waiting for the gateway
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)  # not the 600 s it would otherwise wait
    finally:
        proc.kill()
    assert proc.returncode in (0, 143) and "Traceback" not in stderr  # stopped cleanly, or terminated
    assert not (tmp_path / "x.bin").exists()
