"""No tool destroys or misreports a user's file, whatever the input: the stories of the trust issue."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

import pdlogkit
from pdlogkit import (
    DamageKind,
    LogFormatError,
    OutputExistsError,
    RecoverStatus,
    TruncatedLogWarning,
    WindowError,
    convert,
    open_log,
    open_writer,
    recover_log,
    slice_log,
    verify_log,
)
from pdlogkit.cli import main
from pdlogkit.cli.common import BAD_INPUT, OK, PROBLEMS, USAGE
from pdlogkit.files.indexed import IndexedReader
from pdlogkit.formats import container as fmt
from pdlogkit.synth import write_log

CLI = [sys.executable, "-m", "pdlogkit"]


def leftovers(folder: Path) -> list[str]:
    """Temporary files a writer left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("trust")
    write_log(folder / "run.bin", 6.0, seed=3)
    convert(folder / "run.bin", folder / "run.pdlz")
    return {"classic": folder / "run.bin", "container": folder / "run.pdlz"}


# ---------------------------------------------------------------- 1. never destroy or silently replace a file


def test_converting_a_photo_leaves_the_log_it_would_have_replaced_untouched(logs, tmp_path, real_frames, capsys):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(real_frames[0])
    keep = tmp_path / "keep.pdlz"
    keep.write_bytes(logs["container"].read_bytes())
    assert main(["convert", str(photo), str(keep), "--force"]) == BAD_INPUT
    assert keep.read_bytes() == logs["container"].read_bytes()
    assert "photo.jpg: byte 0" in capsys.readouterr().err
    assert leftovers(tmp_path) == []


def test_an_existing_output_is_replaced_only_with_force(logs, tmp_path, capsys):
    out = tmp_path / "out.pdlz"
    out.write_bytes(b"my notes, not a log")
    assert main(["convert", str(logs["classic"]), str(out)]) == PROBLEMS
    err = capsys.readouterr().err
    assert "out.pdlz" in err and "--force" in err and err.count("\n") == 1
    assert out.read_bytes() == b"my notes, not a log"
    assert main(["convert", str(logs["classic"]), str(out), "--force"]) == OK
    assert verify_log(out).ok
    with pytest.raises(OutputExistsError):
        slice_log(logs["classic"], out, start=1, end=2)
    with pytest.raises(OutputExistsError), open_writer(out):
        pass


def test_a_classic_output_refuses_the_sidecars_of_an_earlier_log_without_force(logs, tmp_path, capsys):
    for suffix in (".pdmeta", ".pdidx"):
        out = tmp_path / f"out{suffix[1:4]}.bin"
        beside = tmp_path / (out.name + suffix)
        beside.write_text("precious")
        assert main(["slice", str(logs["container"]), str(out), "--end", "2"]) == PROBLEMS
        assert f"{beside.name}: the file exists; use --force" in capsys.readouterr().err
        assert beside.read_text() == "precious" and not out.exists()
        assert main(["slice", str(logs["container"]), str(out), "--end", "2", "--force"]) == OK
        assert out.exists()


def _harmful_outputs(folder: Path, log: Path) -> dict[str, tuple[list[str], Path]]:
    """Command lines that would write over their own input, and the file each would harm."""
    (folder / "box").mkdir()
    boxed = folder / "box" / "run.pdlz"
    boxed.write_bytes(log.read_bytes())
    named = folder / "run.png"  # a log that happens to be named like a picture
    named.write_bytes(log.read_bytes())
    (folder / "link.png").symlink_to(log)
    (folder / "link.mp4").symlink_to(log)
    sidecar = str(log) + ".pdmeta"
    return {
        "export into the folder holding the input": (["export", str(boxed), str(folder / "box")], boxed),
        "plot onto the input": (["plot", str(named), "-o", str(named)], named),
        "plot through a link to the input": (["plot", str(log), "-o", str(folder / "link.png")], log),
        "video through a link to the input": (["video", str(log), str(folder / "link.mp4"), "--codec", "copy"], log),
        "export --layout onto the input": (["export", str(log), str(folder / "o.mcap"), "--layout", str(log)], log),
        "export --layout onto its output": (
            ["export", str(log), str(folder / "o.mcap"), "--layout", str(folder / "o.mcap")],
            log,
        ),
        "trim onto the input's sidecar": (["trim", str(log), sidecar], log),
    }


@pytest.mark.parametrize(
    "case",
    [
        "export into the folder holding the input",
        "plot onto the input",
        "plot through a link to the input",
        "video through a link to the input",
        "export --layout onto the input",
        "export --layout onto its output",
        "trim onto the input's sidecar",
    ],
)
def test_no_command_writes_over_its_own_input_even_with_force(logs, tmp_path, capsys, case):
    pytest.importorskip("matplotlib")
    log = tmp_path / "run.pdlz"
    log.write_bytes(logs["container"].read_bytes())
    args, harmed = _harmful_outputs(tmp_path, log)[case]
    before = harmed.read_bytes()
    assert main([*args, "--force"]) == USAGE
    err = capsys.readouterr().err
    assert (
        "is the input" in err
        or "holds the input" in err
        or "sidecar of the input" in err
        or "is the export's output" in err
    )
    assert harmed.read_bytes() == before
    assert not (tmp_path / "o.mcap").exists()


@pytest.mark.parametrize("command", ["activity", "trim", "plot", "cat"])
@pytest.mark.parametrize("kind", ["container", "classic"])
def test_every_command_says_once_that_a_log_is_cut_short(logs, tmp_path, command, kind):
    if command == "plot":
        pytest.importorskip("matplotlib")
    data = logs[kind].read_bytes()
    cut = tmp_path / f"cut{logs[kind].suffix}"
    cut.write_bytes(data[: len(data) * 2 // 3])
    args = {
        "activity": ["activity", str(cut), "--pre-roll", "0.5", "--post-roll", "0.5"],
        "trim": ["trim", str(cut), str(tmp_path / "t.pdlz"), "--activity", "hv_regulator"],
        "plot": ["plot", str(cut), "-o", str(tmp_path / "c.png")],
        "cat": ["cat", str(cut), "--kinds", "hv_regulator"],
    }[command]
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == OK, result.stderr
    cuts = [line for line in result.stderr.splitlines() if "warning" in line and cut.name in line]
    assert len(cuts) == 1, result.stderr  # said, and said once


def test_merge_takes_its_output_with_o_and_never_guesses(logs, tmp_path, capsys):
    morning = tmp_path / "morning.pdlz"
    morning.write_bytes(logs["container"].read_bytes())
    before = morning.read_bytes()
    # The old form (OUT first) is refused: morning.pdlz is an input, not an output to replace.
    assert main(["merge", str(morning), str(logs["classic"])]) == USAGE
    assert "-o" in capsys.readouterr().err
    assert morning.read_bytes() == before
    merged = tmp_path / "all.pdlz"
    assert main(["merge", str(morning), str(logs["classic"]), "-o", str(merged)]) == OK
    assert open_log(merged).summary().events == 2 * open_log(morning).summary().events


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_convert_leaves_no_partial_output_and_the_old_file_intact(logs, tmp_path, signum):
    """The input is a FIFO fed half a log, so the interruption lands while the output is being written."""
    fifo = tmp_path / "feed"
    os.mkfifo(fifo)
    out = tmp_path / "out.pdlz"
    out.write_bytes(b"yesterday's log")
    proc = subprocess.Popen([*CLI, "convert", str(fifo), str(out), "--force"], stderr=subprocess.PIPE, text=True)
    data = logs["classic"].read_bytes()
    with open(fifo, "wb") as feed:
        feed.write(data[: len(data) // 2])
        feed.flush()
        deadline = time.monotonic() + 60
        while not leftovers(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert leftovers(tmp_path), "the temporary output never appeared"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == (130 if signum == signal.SIGINT else 143)
    assert out.read_bytes() == b"yesterday's log"
    assert leftovers(tmp_path) == []
    assert err.strip().endswith("interrupted" if signum == signal.SIGINT else "terminated")


def _limit_file_size(limit: int) -> None:
    """In the child: writes past `limit` bytes fail with EFBIG, as a full disk fails them with ENOSPC."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize("command", ["convert", "slice", "merge", "recover"])
def test_a_write_failure_is_one_line_exit_1_and_leaves_nothing(logs, tmp_path, command):
    out = tmp_path / "out.pdlz"
    src = str(logs["classic"])
    args = {
        "convert": ["convert", src, str(out)],
        "slice": ["slice", src, str(out), "--start", "0", "--end", "5"],
        "merge": ["merge", src, "-o", str(out)],
        "recover": ["recover", src, str(out)],
    }[command]
    result = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, preexec_fn=lambda: _limit_file_size(1 << 20), timeout=120
    )
    assert result.returncode == PROBLEMS, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write" in lines[0] and "out.pdlz" in lines[0], result.stderr
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 1 MB file system (tmpfs), where the machine lets the tests mount one."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("command", ["convert", "slice", "merge", "recover"])
@pytest.mark.parametrize("room", ["some room", "full"])
def test_a_full_file_system_fails_cleanly_and_the_old_file_stays(logs, small_disk, command, room):
    keep = small_disk / "keep.pdlz"
    keep.write_bytes(b"yesterday's log")
    if room == "full":  # fill it to the last byte
        with open(small_disk / "filler", "wb", buffering=0) as f:
            for block in (65536, 4096, 1):
                with contextlib.suppress(OSError):
                    while True:
                        f.write(b"\1" * block)
    src = str(logs["classic"])
    assert os.path.getsize(src) > 1 << 20  # it cannot fit
    args = {
        "convert": ["convert", src, str(keep)],
        "slice": ["slice", src, str(keep), "--start", "0", "--end", "5"],
        "merge": ["merge", src, "-o", str(keep)],
        "recover": ["recover", src, str(keep)],
    }[command]
    result = subprocess.run([*CLI, *args, "--force"], capture_output=True, text=True, timeout=120)
    assert result.returncode == PROBLEMS, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "keep.pdlz" in lines[0] and "space" in lines[0].lower(), result.stderr
    assert keep.read_bytes() == b"yesterday's log"
    assert leftovers(small_disk) == []


def test_a_folder_that_cannot_be_written_is_exit_1_naming_the_output(logs, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who may write anywhere (root)")
        assert main(["convert", str(logs["classic"]), str(locked / "x.pdlz")]) == PROBLEMS
        assert "x.pdlz" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_a_missing_output_folder_is_named(logs, tmp_path, capsys):
    assert main(["convert", str(logs["classic"]), str(tmp_path / "nowhere" / "x.pdlz")]) == PROBLEMS
    assert "no such folder" in capsys.readouterr().err


# ---------------------------------------------------------------- 2. verify and recover tell the truth


def test_a_container_cut_inside_its_header_is_a_cut_container_never_an_empty_classic_log(logs, tmp_path, capsys):
    data = logs["container"].read_bytes()
    for n in (0, 1, 7, 8, 15, 40):
        cut = tmp_path / f"cut{n}.pdlz"
        cut.write_bytes(data[:n])
        report = verify_log(cut)
        assert report.format == "indexed" and not report.ok, n
        assert any("inside the header" in p for p in report.problems), (n, report.problems)
        assert main(["verify", str(cut)]) == PROBLEMS
    capsys.readouterr()


def test_verify_of_something_that_is_not_a_log_exits_3(tmp_path, real_frames, capsys):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(real_frames[1])
    assert main(["verify", str(photo)]) == BAD_INPUT
    assert "not a log" in capsys.readouterr().err


def _container_missing_one_lane_chunk(logs: dict[str, Path], tmp_path: Path) -> tuple[Path, int]:
    """The container without the image chunk written right after a sensor chunk (a cut between the two),
    and without its index: its events are missing from the sequence, though no chunk is cut."""
    with IndexedReader(logs["container"]) as reader:
        chunks = [reader.read_chunk(i) for i in range(reader.chunk_count)]
        data = logs["container"].read_bytes()[: reader.data_end]
    victim = next(info for info, recs in chunks[1:] if info.counts.get(fmt.IMAGE_CODE) and info.offset > 0)
    damaged = tmp_path / "gap.pdlz"
    damaged.write_bytes(data[: victim.offset] + data[victim.end_offset :])
    return damaged, victim.records


def test_recover_reports_events_missing_from_the_sequence_and_its_output_keeps_saying_so(logs, tmp_path, capsys):
    damaged, lost = _container_missing_one_lane_chunk(logs, tmp_path)
    report = verify_log(damaged)
    assert any(f"{lost} events missing" in p for p in report.problems), report.problems
    saved = tmp_path / "saved.pdlz"
    assert main(["recover", str(damaged), str(saved)]) == PROBLEMS
    assert "missing" in capsys.readouterr().out
    result = recover_log(damaged, tmp_path / "again.pdlz")
    assert result.status is RecoverStatus.SOME_LOST and any("missing" in x for x in result.lost)
    with open_log(saved) as log:
        assert "missing" in json.dumps(log.metadata["incomplete"])
    later = verify_log(saved)
    assert not later.ok and later.problems[0].startswith("incomplete: recovered from gap.pdlz")


def test_a_log_followed_by_gigabytes_of_zero_padding_reads_as_fast_as_its_events(logs, tmp_path, capsys):
    """What many filesystems leave after a power loss: the log, then its tail as zeros (here a 5 GB hole)."""
    for name in ("classic", "container"):
        padded = tmp_path / f"padded-{name}"
        data = logs[name].read_bytes()
        padded.write_bytes(data)
        os.truncate(padded, len(data) + (5 << 30))
        events = sum(1 for _ in open_log(logs[name]))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TruncatedLogWarning)
            assert sum(1 for _ in open_log(padded)) == events
        report = verify_log(padded)
        assert report.events == events and any("zero" in p for p in report.problems)
        assert main(["info", str(padded)]) == OK
        assert main(["cat", str(padded), "--kinds", "hv_regulator"]) == OK
        saved = tmp_path / f"saved-{name}.bin"
        recovered = recover_log(padded, saved)
        assert recovered.events == events and saved.stat().st_size < len(data) * 1.01
        if name == "classic":  # the zeros are where the log ends: whatever was being written there is lost
            assert caught and "zero padding" in str(caught[0].message)
            assert recovered.status is RecoverStatus.SOME_LOST and "zero padding" in recovered.lost[0]
        else:  # the container's trailer came before the zeros: nothing was lost
            assert recovered.status is RecoverStatus.NOTHING_LOST
    capsys.readouterr()


def test_zero_bytes_written_after_a_classic_log_are_padding_but_an_empty_event_is_an_event(logs, tmp_path):
    data = logs["classic"].read_bytes()
    padded = tmp_path / "padded.bin"
    padded.write_bytes(data + bytes(3000))
    with open_log(padded) as log:
        with pytest.warns(TruncatedLogWarning, match="zero padding from byte"):
            assert sum(1 for _ in log) == sum(1 for _ in open_log(logs["classic"]))
        assert log.truncation is not None and log.truncation.kind.value == "padding"
    empty_event = tmp_path / "empty-event.bin"
    empty_event.write_bytes(bytes(4) + data)  # one empty record, then the log
    assert next(e.kind for e in open_log(empty_event)) == "unknown"


# ---------------------------------------------------------------- 3. hostile input: a clear error, never a traceback


def _rewrite_header(data: bytes, metadata_json: bytes) -> bytes:
    """The container with its header's metadata replaced (checksum fixed)."""
    import struct
    import zlib

    head_size = fmt.header_size_needed(data[: fmt.FILE_HEAD_SIZE])
    head = struct.pack("<8sHHI", fmt.MAGIC, *fmt.VERSION, len(metadata_json)) + metadata_json
    return head + struct.pack("<I", zlib.crc32(head)) + data[head_size:]


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_json_in_a_container_is_a_format_error_never_a_recursion_error(logs, tmp_path, depth, capsys):
    nested = b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    bad = tmp_path / "nested.pdlz"
    bad.write_bytes(_rewrite_header(logs["container"].read_bytes(), nested))
    with pytest.raises(LogFormatError, match="nested"):
        open_log(bad)
    with open_log(bad, lenient=True) as log:  # the metadata is lost, not the events
        assert sum(1 for _ in log) == sum(1 for _ in open_log(logs["container"]))
        assert any(d.kind is DamageKind.HEADER for d in log.problems)
    assert main(["info", str(bad)]) == BAD_INPUT
    assert "nested" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["cat", "LOG", "--start", "inf"],
        ["cat", "LOG", "--end", "1e400"],
        ["slice", "LOG", "OUT", "--start", "nan"],
        ["video", "LOG", "OUT.mp4", "--start=-inf"],
        ["record", "ws://127.0.0.1:9", "OUT", "--split-size", "inf"],
        ["record", "ws://127.0.0.1:9", "OUT", "--max-message-size", "inf"],
        ["record", "ws://127.0.0.1:9", "OUT", "--connect-timeout", "inf"],
        ["record", "ws://127.0.0.1:9", "OUT", "--duration", "1e400"],
        ["record", "ws://127.0.0.1:9", "OUT", "--pre-roll", "-1"],
    ],
    ids=lambda a: " ".join(a[:1] + a[-2:]).replace("=", " "),
)
def test_impossible_numbers_are_a_one_line_usage_error(logs, tmp_path, args, capsys):
    args = [str(logs["classic"]) if a == "LOG" else str(tmp_path / a) if a.startswith("OUT") else a for a in args]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert "finite" in err[-1] or "must be" in err[-1], err


def test_impossible_windows_are_a_value_error_in_the_library(logs):
    with open_log(logs["container"]) as log:
        for bound in (float("inf"), float("nan"), 1e300):
            with pytest.raises(ValueError, match="finite"):
                list(log.events(start=bound))


def test_a_fifo_is_read_as_a_stream_without_losing_its_first_bytes(logs, tmp_path):
    for name in ("classic", "container"):
        fifo = tmp_path / f"fifo-{name}"
        os.mkfifo(fifo)
        data = logs[name].read_bytes()
        feeder = threading.Thread(target=fifo.write_bytes, args=(data,))
        feeder.start()
        try:
            with open_log(fifo) as log:
                got = [e.payload for e in log]
        finally:
            feeder.join()
        assert got == [e.payload for e in open_log(logs[name])]


def test_a_fifo_nobody_writes_into_is_a_clear_error_not_a_hang(tmp_path, monkeypatch):
    monkeypatch.setattr(pdlogkit.log, "FIFO_WAIT", 0.3)
    fifo = tmp_path / "silent"
    os.mkfifo(fifo)
    with pytest.raises(pdlogkit.LogReadError, match="FIFO and no process wrote"):
        open_log(fifo)


def test_converting_into_a_fifo_nobody_reads_fails_at_once(logs, tmp_path, capsys):
    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    assert main(["convert", str(logs["classic"]), str(fifo)]) == PROBLEMS
    assert "no process is reading" in capsys.readouterr().err


def test_a_window_outside_the_log_says_so_and_writes_nothing(logs, tmp_path, capsys):
    out = tmp_path / "m.pdlz"
    assert main(["slice", str(logs["container"]), str(out), "--start", "2220", "--end", "2280"]) == PROBLEMS
    err = capsys.readouterr().err
    assert "after the log's end" in err and "spans 0 to 5.9" in err
    assert not out.exists()
    with pytest.raises(WindowError):
        slice_log(logs["classic"], out, start=100)
    assert main(["video", str(logs["classic"]), str(tmp_path / "v.mp4"), "--start", "120"]) == PROBLEMS
    assert "after the log's end" in capsys.readouterr().err
    with pytest.raises(WindowError, match="no event"):  # inside the log, but none of these kinds there
        slice_log(logs["classic"], out, start=1, end=2, kinds=["electrode_layout"])
    assert not out.exists()


# ---------------------------------------------------------------- 4. one error hierarchy


def test_a_corrupt_log_is_not_a_bad_argument():
    assert not issubclass(LogFormatError, ValueError)
    for name in ("LogReadError", "OutputError", "OutputExistsError", "WindowError", "ReplayError", "VideoError"):
        assert issubclass(getattr(pdlogkit, name), pdlogkit.PdlogkitError)
