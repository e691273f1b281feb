"""Batch jobs over many logs (local, HTTP, S3) on a real Dask LocalCluster of 2 worker processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")
fsspec = pytest.importorskip("fsspec")

from servers import file_server, s3_server  # noqa: E402

from pdlogkit import open_log  # noqa: E402
from pdlogkit.batch import JobOptions, Status, expand, output_paths, run_job  # noqa: E402
from pdlogkit.logtools import convert  # noqa: E402
from pdlogkit.synth import write_log  # noqa: E402


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pdlogkit", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def events(path) -> list[tuple[str, bytes]]:
    with open_log(path) as log:
        return [(e.kind, e.payload) for e in log.events()]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, synth_log: Path) -> Path:
    """A lab's archive: classic logs and containers in folders by day, one of them corrupt."""
    root = tmp_path_factory.mktemp("lab")
    (root / "day1").mkdir()
    (root / "day2").mkdir()
    shutil.copy(synth_log, root / "day1" / "run.bin")
    write_log(root / "day1" / "short.pdlz", 3.0, seed=11)
    write_log(root / "day2" / "run.bin", 3.0, seed=12, camera=False)
    (root / "day2" / "broken.bin").write_bytes(b"\xff\xff\xff\x7f" + b"not a log" * 10)
    return root


@pytest.fixture(scope="module")
def s3(archive: Path):
    """S3 (moto) holding a copy of day2, and the environment that reaches it (for the CLI and the workers)."""
    s3fs = pytest.importorskip("s3fs")
    pytest.importorskip("moto")
    with s3_server() as options:
        fs = s3fs.S3FileSystem(**options)
        fs.mkdir("lab")
        fs.put(str(archive / "day1" / "short.pdlz"), "lab/day3/short.pdlz")
        fs.put(str(archive / "day2" / "run.bin"), "lab/day3/run.bin")
        env = {
            "FSSPEC_S3": json.dumps({"client_kwargs": options["client_kwargs"]}),
            **{k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")},
        }
        # The workers (started after this) read it from their environment; this process from fsspec's config.
        saved = os.environ.get("FSSPEC_S3"), fsspec.config.conf.get("s3")
        os.environ["FSSPEC_S3"] = env["FSSPEC_S3"]
        fsspec.config.conf["s3"] = {"client_kwargs": options["client_kwargs"]}
        try:
            yield env
        finally:
            if saved[0] is None:
                os.environ.pop("FSSPEC_S3", None)
            else:
                os.environ["FSSPEC_S3"] = saved[0]
            if saved[1] is None:
                fsspec.config.conf.pop("s3", None)
            else:
                fsspec.config.conf["s3"] = saved[1]


@pytest.fixture(scope="module")
def http(archive: Path):
    with file_server(archive) as server:
        yield server


@pytest.fixture(scope="module")
def cluster(s3):
    """A LocalCluster of 2 worker processes (started after S3, so the workers reach it too)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c.scheduler_address


def test_patterns_name_local_folders_globs_and_urls_and_outputs_mirror_where_the_logs_are(archive, tmp_path):
    logs = expand([str(archive / "day1"), str(archive / "day2" / "*.bin"), "https://lab.example/x/run.pdlz"])
    assert [Path(p).name for p in logs[:4]] == ["run.bin", "short.pdlz", "broken.bin", "run.bin"]
    outs = output_paths(logs[:4], tmp_path, ".pdlz")
    assert outs == [str(tmp_path / d / n) for d, n in [("day1", "run.pdlz"), ("day1", "short.pdlz")]] + [
        str(tmp_path / "day2" / n) for n in ("broken.pdlz", "run.pdlz")
    ]
    with pytest.raises(ValueError, match="no log there"):
        expand([str(archive / "day9" / "*.bin")])
    # A log and its container side by side keep apart; so do the same names in other folders.
    both = output_paths(["x/run.bin", "x/run.pdlz"], tmp_path, ".pdlz")
    assert both == [str(tmp_path / "run-bin.pdlz"), str(tmp_path / "run-pdlz.pdlz")]
    years = output_paths(["s3://lab/2025/run.bin", "s3://lab/2026/run.bin"], tmp_path, ".pdlz")
    assert years == [str(tmp_path / "2025" / "run.pdlz"), str(tmp_path / "2026" / "run.pdlz")]


def test_a_job_on_a_corrupt_log_is_a_failed_result_naming_it_not_an_exception(archive, tmp_path):
    result = run_job("convert", str(archive / "day2" / "broken.bin"), str(tmp_path / "out.pdlz"))
    assert result.status is Status.FAILED
    assert "broken.bin" in result.text and "byte 0" in result.text
    assert list(tmp_path.iterdir()) == []


def test_a_job_on_a_cut_log_says_so_in_its_result_not_on_the_workers_stderr(archive, tmp_path):
    data = (archive / "day1" / "short.pdlz").read_bytes()
    cut = tmp_path / "cut.pdlz"
    cut.write_bytes(data[: len(data) // 2])
    result = run_job("convert", str(cut), str(tmp_path / "cut.bin"), JobOptions(format="classic"))
    assert result.ok and len(result.warnings) == 1 and "cut.pdlz" in result.warnings[0]
    assert result.to_dict()["warnings"] == result.warnings
    assert run_job("info", str(archive / "day1" / "short.pdlz")).warnings == []


def test_batch_out_that_is_a_file_is_refused_before_anything_runs(archive, tmp_path):
    taken = tmp_path / "results"
    taken.write_text("not a folder")
    result = cli("batch", "convert", str(archive / "day1"), "--out", str(taken))
    assert result.returncode == 2 and "is a file" in result.stderr
    assert taken.read_text() == "not a folder"


def test_a_batch_over_local_http_and_s3_logs_reports_the_corrupt_one_and_converts_the_others(
    archive, http, s3, cluster, tmp_path
):
    out = tmp_path / "converted"
    inputs = [str(archive / "day*" / "*.bin"), str(archive / "day1" / "short.pdlz"), http.url("day1/short.pdlz")]
    args = ["batch", "convert", *inputs, "s3://lab/day3/*", "--out", str(out), "--scheduler", cluster, "--json"]
    done = cli(*args, env=s3)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    by_log = {r["log"]: r for r in report["results"]}
    assert report["logs"] == 7 and report["failed"] == 1
    broken = by_log[str(archive / "day2" / "broken.bin")]
    assert broken["status"] == "failed" and "broken.bin: byte 0" in broken["text"]
    for log, result in by_log.items():
        if result["ok"]:
            assert events(result["output"]) == events(log)
    assert len(list(out.rglob("*.pdlz"))) == 6
    assert not list(out.rglob("*.part"))

    # Again without --force: every output exists and is left alone.
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.pdlz")}
    again = json.loads(cli(*args, env=s3).stdout)
    assert again["failed"] == 7
    assert all("exists" in r["text"] or "byte 0" in r["text"] for r in again["results"])
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.pdlz")} == before


def test_batch_verify_and_info_on_a_local_cluster_print_a_results_table(archive):
    done = cli("batch", "verify", str(archive / "day2"), str(archive / "day1" / "short.pdlz"), "--workers", "2")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].split()[:4] == ["log", "status", "seconds", "result"]
    assert any("broken.bin" in line and " failed " in line for line in lines)
    assert any("short.pdlz" in line and " ok " in line for line in lines)
    assert lines[-1] == "3 logs: 2 ok, 1 failed"
    assert done.stderr == ""  # no progress bar when not on a terminal


def test_batch_index_writes_the_sidecars_of_remote_classic_logs_into_out(archive, http, cluster, tmp_path):
    done = cli("batch", "index", http.url("day1/run.bin"), "--out", str(tmp_path), "--scheduler", cluster)
    assert done.returncode == 0, done.stdout + done.stderr
    sidecar = tmp_path / "run.pdidx"
    assert sidecar.exists()
    shutil.copy(sidecar, archive / "day1" / "run.bin.pdidx")
    try:
        with open_log(http.url("day1/run.bin")) as remote:
            assert remote.has_index
    finally:
        (archive / "day1" / "run.bin.pdidx").unlink()


def test_without_the_dask_extra_the_error_names_it(archive):
    code = (
        "import sys; sys.modules['distributed'] = None; from pdlogkit.cli import main; "
        f"sys.exit(main(['batch', 'info', {str(archive / 'day1')!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "pip install 'pdlogkit[dask]'" in done.stderr


def test_read_table_over_several_logs_equals_the_local_tables_concatenated(archive, http, cluster):
    pytest.importorskip("pdlogkit.export")
    import pandas as pd

    from pdlogkit.dask import read_table

    logs = [str(archive / "day1" / "run.bin"), http.url("day1/short.pdlz"), str(archive / "day2" / "run.bin")]
    with distributed.Client(cluster):
        frame = read_table(logs, "scan_capacitance").compute()
    want = []
    for log in logs:
        with open_log(log) as opened:
            part = opened.table("scan_capacitance").to_pandas()
        part["log"] = log
        want.append(part)
    want = pd.concat(want).reset_index(drop=True)
    assert len(want) > 1000 and list(frame.columns) == list(want.columns)
    # Dask stores text as Arrow strings: the same values, another dtype.
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), want, check_dtype=False)


def test_a_big_container_is_read_in_time_windows_that_add_up_to_the_whole(archive, tmp_path):
    pytest.importorskip("pdlogkit.export")
    import pandas as pd

    from pdlogkit.dask import read_table

    container = tmp_path / "big.pdlz"
    convert(archive / "day1" / "run.bin", container)
    whole = read_table(str(container), "active_capacitance", partition_bytes=1 << 40)
    windows = read_table(str(container), "active_capacitance", partition_bytes=-(-container.stat().st_size // 5))
    assert whole.npartitions == 1 and windows.npartitions == 5
    pd.testing.assert_frame_equal(
        windows.compute(scheduler="sync").reset_index(drop=True),
        whole.compute(scheduler="sync").reset_index(drop=True),
    )


def test_batch_export_writes_each_logs_tables_under_out(archive, cluster, tmp_path):
    pytest.importorskip("pdlogkit.export")
    import pandas as pd

    out = tmp_path / "tables"
    logs = [str(archive / "day1" / "short.pdlz"), str(archive / "day2" / "run.bin")]
    done = cli("batch", "export", *logs, "--kinds", "scan_capacitance", "--out", str(out), "--scheduler", cluster)
    assert done.returncode == 0, done.stdout + done.stderr
    for log, folder in zip(logs, [out / "day1" / "short", out / "day2" / "run"], strict=True):
        with open_log(log) as opened:
            want = opened.table("scan_capacitance").to_pandas()
        got = pd.read_parquet(folder / "scan_capacitance.parquet")
        pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_run_job_options_reach_the_command(archive, tmp_path):
    out = tmp_path / "sensors.bin"
    result = run_job("convert", str(archive / "day1" / "short.pdlz"), str(out), JobOptions(format="classic"))
    assert result.ok, result.text
    assert events(out) == events(archive / "day1" / "short.pdlz")
