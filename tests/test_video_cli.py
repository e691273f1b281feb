"""`pdlogkit video` and the original `pdlog --video`: thin commands over `write_video`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import pytest

from pdlogkit import open_log
from pdlogkit.cli import main
from pdlogkit.cli.common import BAD_INPUT, PROBLEMS, USAGE
from pdlogkit.cli.video import pdlog_main
from pdlogkit.files.classic import ClassicWriter
from pdlogkit.schema import Image, PurpleDropEvent
from pdlogkit.synth import write_log


def decoded(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


@pytest.fixture(scope="module")
def small_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of camera at 10 fps, 160x120, plus one frame with no timestamp."""
    folder = tmp_path_factory.mktemp("video")
    write_log(folder / "camera.bin", 3.0, fps=10, frame_size=(160, 120), seed=9)
    path = folder / "run.bin"
    with open_log(folder / "camera.bin") as log, ClassicWriter(path) as w:
        for event in log:
            w.write(event.payload)
        jpeg = next(log.events(kinds=["image"])).message.image.image_data
        w.write(PurpleDropEvent(image=Image(image_data=jpeg)).SerializeToString())
    return path


def test_video_command_writes_the_file_and_a_json_summary(
    tmp_path: Path, small_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "clip.mp4"

    code = main(["video", str(small_log), str(out), "--start", "1", "--end", "2.5", "--preset", "ultrafast", "--json"])

    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    frames = decoded(out)
    assert summary["frames"] == len(frames) == 15
    assert (summary["width"], summary["height"], summary["codec"]) == (160, 120, "h264")
    assert summary["size"] == out.stat().st_size


def test_video_command_reports_skipped_frames(
    tmp_path: Path, small_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "all.mov"

    code = main(["video", str(small_log), str(out), "--codec", "copy", "--fps", "5"])

    assert code == 0
    text = capsys.readouterr().out
    assert f"{out}: " in text and "5 fps" in text and "mjpeg in mov" in text
    with open_log(small_log) as log:
        images = sum(1 for _ in log.events(kinds=["image"]))
    assert f"skipped 1 of {images} frames: 1 no timestamp" in text


def test_video_command_says_when_the_log_was_cut_short(
    tmp_path: Path, small_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = tmp_path / "cut.bin"
    cut.write_bytes(small_log.read_bytes()[:-100])  # the recorder was killed inside the last record

    assert main(["video", str(cut), str(tmp_path / "cut.mov"), "--codec", "copy"]) == 0

    assert "log cut short, truncated last record at byte " in capsys.readouterr().out


def test_pdlog_video_keeps_the_original_interface(
    tmp_path: Path, small_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "old.mp4"

    assert pdlog_main(["--video", str(out), str(small_log)]) == 0

    with open_log(small_log) as log:
        timed = sum(1 for e in log.events(kinds=["image"]) if e.time_ns is not None)
    assert len(decoded(out)) == timed
    assert f"{timed} frames" in capsys.readouterr().out
    # As `pdlogkit video` with its defaults: any container it knows.
    assert pdlog_main(["--video", str(tmp_path / "old.mkv"), str(small_log)]) == 0
    assert "h264 in matroska" in capsys.readouterr().out


@pytest.mark.skipif(
    not (Path(sys.executable).parent / "pdlog").exists(), reason="console scripts not installed beside python"
)
def test_pdlog_console_script_runs(tmp_path: Path, small_log: Path) -> None:
    out = tmp_path / "script.mp4"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "pdlog"), "--video", str(out), str(small_log)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0


def test_errors_become_one_line_and_an_exit_code(
    tmp_path: Path, sensor_log: Path, small_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["video", str(tmp_path / "missing.bin"), str(tmp_path / "a.mp4")]) == BAD_INPUT
    assert "missing.bin" in capsys.readouterr().err

    assert main(["video", str(sensor_log), str(tmp_path / "b.mp4")]) == PROBLEMS
    assert "no camera frames" in capsys.readouterr().err

    assert main(["video", str(small_log), str(tmp_path / "c.avi")]) == USAGE
    assert "extension" in capsys.readouterr().err

    for fps in ("inf", "0.0001", "100000"):
        assert main(["video", str(small_log), str(tmp_path / "e.mp4"), "--fps", fps]) == USAGE
        assert "fps must be between" in capsys.readouterr().err

    assert pdlog_main(["--video", str(tmp_path / "d.mp4"), str(tmp_path / "missing.bin")]) == BAD_INPUT
    assert capsys.readouterr().err.startswith("pdlog: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
