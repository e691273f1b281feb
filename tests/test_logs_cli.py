"""The log commands from a shell's point of view: output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pdlogkit import open_log
from pdlogkit.cli import main
from pdlogkit.cli.common import BAD_INPUT, OK, PROBLEMS, USAGE


@pytest.fixture
def container(synth_log: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run.pdlz"
    assert main(["convert", str(synth_log), str(out)]) == OK
    return out


def test_info_prints_a_table_or_json(container, capsys):
    capsys.readouterr()
    assert main(["info", str(container)]) == OK
    table = capsys.readouterr().out
    assert "active_capacitance" in table and "indexed" in table
    assert main(["info", "--json", str(container)]) == OK
    data = json.loads(capsys.readouterr().out)
    assert data["format"] == "indexed" and data["source"] == "index" and data["counts"]["image"] == 200


def test_cat_prints_json_lines_of_the_window_and_kinds_asked_for(container, capsys):
    capsys.readouterr()
    assert main(["cat", str(container), "--kinds", "image", "--start", "2", "--end", "3"]) == OK
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 10
    assert all(line["kind"] == "image" and "sha256" in line["fields"]["image_data"] for line in lines)


def test_cat_says_on_stderr_when_a_log_is_cut_short(synth_log, container, tmp_path, capsys):
    for source in (container, synth_log):
        cut = tmp_path / f"cut-{source.name}"
        cut.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
        capsys.readouterr()
        assert main(["cat", str(cut), "--kinds", "device_info"]) == OK
        captured = capsys.readouterr()
        warned = captured.err.splitlines()
        assert warned and all(line.startswith("warning: ") for line in warned), captured.err
        assert any("byte" in line and ("inside the chunk" in line or "truncated" in line) for line in warned)
        assert all(json.loads(line) for line in captured.out.splitlines())
    capsys.readouterr()
    assert main(["cat", str(container), "--kinds", "device_info"]) == OK
    assert capsys.readouterr().err == ""


def test_slice_refuses_an_empty_window_and_writes_nothing(container, tmp_path, capsys):
    out = tmp_path / "empty.pdlz"
    assert main(["slice", str(container), str(out), "--start", "5", "--end", "5"]) == USAGE
    assert main(["slice", str(container), str(out), "--start", "6", "--end", "2"]) == USAGE
    assert "window is empty" in capsys.readouterr().err
    assert not out.exists()


def test_a_zstd_level_outside_1_to_19_is_a_usage_error(container, tmp_path, capsys):
    for level in ("0", "20", "fast"):
        with pytest.raises(SystemExit) as exc:
            main(["convert", str(container), str(tmp_path / "x.pdlz"), "--level", level])
        assert exc.value.code == USAGE
    assert "1 to 19" in capsys.readouterr().err
    assert not (tmp_path / "x.pdlz").exists()


def test_cat_stops_quietly_when_the_reader_goes_away(container):
    cli = f"{sys.executable} -c 'import sys; from pdlogkit.cli import main; sys.exit(main())'"
    proc = subprocess.run(
        f"{cli} cat {container} | head -n 3",
        shell=True,
        capture_output=True,
        text=True,
    )
    assert len(proc.stdout.splitlines()) == 3
    assert "Traceback" not in proc.stderr


def test_cat_reads_a_log_piped_to_it_in_either_format(synth_log, container):
    cli = f"{sys.executable} -c 'import sys; from pdlogkit.cli import main; sys.exit(main())'"
    for path in (synth_log, container):
        proc = subprocess.run(
            f"cat {path} | {cli} cat - --kinds scan_capacitance", shell=True, capture_output=True, text=True
        )
        assert proc.returncode == OK, proc.stderr
        lines = [json.loads(line) for line in proc.stdout.splitlines()]
        assert len(lines) == 80 and all(line["kind"] == "scan_capacitance" for line in lines)


def test_convert_both_ways_and_verify(synth_log, container, tmp_path, capsys):
    back = tmp_path / "back.bin"
    assert main(["convert", "--json", str(container), str(back)]) == OK
    assert json.loads(capsys.readouterr().out)["format"] == "classic"
    assert back.read_bytes() == synth_log.read_bytes()
    forced = tmp_path / "forced.log"
    assert main(["convert", "--format", "indexed", "--level", "9", str(synth_log), str(forced)]) == OK
    assert forced.read_bytes()[:5] == b"\x89PDLZ"
    assert main(["verify", str(forced)]) == OK


def test_verify_exits_with_problems_on_a_damaged_log(container, tmp_path, capsys):
    data = container.read_bytes()
    cut = tmp_path / "cut.pdlz"
    cut.write_bytes(data[: len(data) // 2])
    assert main(["verify", str(cut)]) == PROBLEMS
    assert "problem:" in capsys.readouterr().out
    assert main(["verify", "--json", str(cut)]) == PROBLEMS
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_recover_exit_codes_say_nothing_lost_some_lost_nothing_recoverable(container, tmp_path):
    data = container.read_bytes()
    from pdlogkit.files.indexed import IndexedReader

    with IndexedReader(container) as reader:
        index_offset = reader.data_end
    unclosed, cut, empty = tmp_path / "unclosed.pdlz", tmp_path / "cut.pdlz", tmp_path / "empty.pdlz"
    unclosed.write_bytes(data[:index_offset])
    cut.write_bytes(data[: index_offset - 1000])
    empty.write_bytes(data[:150])
    assert main(["recover", str(unclosed), str(tmp_path / "a.pdlz")]) == OK
    assert main(["recover", str(cut), str(tmp_path / "b.pdlz")]) == PROBLEMS
    assert main(["recover", str(empty), str(tmp_path / "c.pdlz")]) == BAD_INPUT


def test_slice_merge_and_index(synth_log, container, tmp_path):
    part = tmp_path / "part.bin"
    assert main(["slice", str(container), str(part), "--start", "1", "--end", "2", "--kinds", "image"]) == OK
    assert part.stat().st_size > 0
    merged = tmp_path / "merged.pdlz"
    assert main(["merge", str(container), str(part), "-o", str(merged)]) == OK
    assert open_log(merged).summary().events == open_log(container).summary().events + open_log(part).summary().events
    classic = tmp_path / "c.bin"
    classic.write_bytes(synth_log.read_bytes())
    assert main(["index", str(classic)]) == OK
    assert (tmp_path / "c.bin.pdidx").exists()


def test_bad_input_and_bad_arguments_get_their_exit_codes(tmp_path, capsys):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\xff" * 100)
    assert main(["info", str(junk)]) == BAD_INPUT
    assert main(["verify", str(tmp_path / "missing.pdlz")]) == BAD_INPUT
    assert "byte 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["cat", str(junk), "--start", "yesterday"])
    assert exit_.value.code == USAGE
