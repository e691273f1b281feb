"""Logs read where they live: over HTTP from a real server on 127.0.0.1, and from S3 (moto), through the index."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

pytest.importorskip("fsspec")
pytest.importorskip("aiohttp")

from servers import file_server, s3_server
from test_log_api import WINDOWS

from pdlogkit import FullScanWarning, RemoteLogError, open_log
from pdlogkit.files.indexed import IndexedReader
from pdlogkit.files.sidecar import write_sidecar
from pdlogkit.logtools import convert


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pdlogkit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def archive(synth_log: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder served over HTTP: a container, a classic log with its sidecar, one without."""
    folder = tmp_path_factory.mktemp("archive")
    convert(synth_log, folder / "run.pdlz")
    shutil.copy(synth_log, folder / "run.bin")
    shutil.copy(synth_log, folder / "indexed.bin")
    write_sidecar(folder / "indexed.bin")
    return folder


@pytest.fixture(scope="module")
def http(archive: Path):
    with file_server(archive) as server:
        yield server


def rows(log, **window):
    return [(e.kind, e.payload, e.received_ns) for e in log.events(**window)]


def chunk_spans(path: Path, kinds=None, start=None, end=None) -> list[int]:
    """The size of each chunk (header and body) a read of `kinds` in the window needs, from the local file."""
    with open_log(path) as log:
        lo, hi = log.window_ns(start, end)
    reader = IndexedReader(path)
    index = reader.index
    ends = [*index.offsets[1:], reader.data_end]
    return [ends[i] - index.offsets[i] for i in reader.select(kinds, lo, hi)]


@pytest.mark.parametrize(("kinds", "start", "end"), WINDOWS)
def test_a_remote_container_reads_event_for_event_like_the_local_file(archive, http, kinds, start, end):
    with open_log(archive / "run.pdlz") as local, open_log(http.url("run.pdlz")) as remote:
        assert rows(remote, kinds=kinds, start=start, end=end) == rows(local, kinds=kinds, start=start, end=end)


def test_a_remote_containers_summary_takes_three_requests_and_under_a_megabyte(archive, http):
    http.reset()
    with open_log(http.url("run.pdlz")) as log:
        summary = log.summary()
    traffic = http.reset()
    assert traffic.requests <= 3
    assert traffic.bytes < 1_000_000
    local = open_log(archive / "run.pdlz").summary()
    assert (summary.events, summary.counts, summary.start_ns, summary.end_ns) == (
        local.events,
        local.counts,
        local.start_ns,
        local.end_ns,
    )


def test_a_one_second_window_fetches_only_the_chunks_that_hold_it(archive, http):
    needed = chunk_spans(archive / "run.pdlz", start=8.0, end=9.0)
    with open_log(http.url("run.pdlz")) as log:
        log.summary()
        http.reset()
        events = list(log.events(start=8.0, end=9.0))
    traffic = http.reset()
    assert any(e.kind == "image" for e in events)
    assert traffic.bytes <= 2 * sum(needed)
    assert traffic.requests <= len(needed)  # header and body of a chunk in one request


def test_sensor_events_come_without_transferring_the_image_chunks(archive, http):
    sensors = [k for k in ("scan_capacitance", "active_capacitance", "group_capacitance", "hv_regulator")]
    needed = sum(chunk_spans(archive / "run.pdlz", kinds=sensors))
    images = sum(chunk_spans(archive / "run.pdlz", kinds=["image"]))
    with open_log(http.url("run.pdlz")) as log:
        log.summary()
        http.reset()
        count = sum(1 for _ in log.events(kinds=sensors))
    traffic = http.reset()
    assert count > 1000
    assert traffic.bytes <= needed < images / 10


def test_a_read_stopped_early_costs_at_most_the_few_chunks_asked_for_ahead(archive, http):
    sensors = ["scan_capacitance", "active_capacitance"]
    spans = chunk_spans(archive / "run.pdlz", kinds=sensors)
    with open_log(http.url("run.pdlz")) as log:
        log.summary()
        http.reset()
        first = next(iter(log.events(kinds=sensors)))
    assert first.kind in sensors
    assert http.reset().requests <= 5  # the chunk read, and the four asked for ahead
    with open_log(archive / "run.pdlz") as local:
        assert first.payload == next(iter(local.events(kinds=sensors))).payload
    assert len(spans) > 10


def test_a_remote_classic_log_uses_the_sidecar_beside_it_for_windows(archive, http):
    size = (archive / "indexed.bin").stat().st_size
    with warnings.catch_warnings():
        warnings.simplefilter("error", FullScanWarning)
        with open_log(archive / "indexed.bin") as local, open_log(http.url("indexed.bin")) as remote:
            assert remote.has_index
            http.reset()
            assert rows(remote, start=12.0, end=13.0) == rows(local, start=12.0, end=13.0)
            assert http.reset().bytes < size / 4
            assert remote.summary().counts == local.summary().counts


def test_a_remote_classic_log_without_a_sidecar_is_read_front_to_back_with_a_warning(archive, http):
    with open_log(archive / "run.bin") as local, open_log(http.url("run.bin")) as remote:
        assert not remote.has_index
        with pytest.warns(FullScanWarning, match=r"run\.bin\.pdidx.*front to back"):
            assert rows(remote, start=5.0, end=6.0) == rows(local, start=5.0, end=6.0)


def test_a_remote_classic_log_indexed_from_its_url_gets_a_sidecar_to_put_beside_it(archive, http, tmp_path):
    shutil.copy(archive / "run.bin", archive / "late.bin")
    done = cli("index", http.url("late.bin"), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    shutil.copy(tmp_path / "late.bin.pdidx", archive / "late.bin.pdidx")
    with open_log(http.url("late.bin")) as remote:
        assert remote.has_index


def test_commands_take_urls_like_paths(archive, http, synth_log, tmp_path):
    local = cli("cat", str(archive / "run.pdlz"), "--start", "3", "--end", "4")
    remote = cli("cat", http.url("run.pdlz"), "--start", "3", "--end", "4")
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout and local.stdout.count("\n") > 50
    info = cli("info", "--json", http.url("run.pdlz"))
    assert json.loads(info.stdout)["events"] == open_log(synth_log).summary().events
    # container -> classic gives back the original file byte for byte, from a URL too
    done = cli("convert", http.url("run.pdlz"), str(tmp_path / "back.bin"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "back.bin").read_bytes() == synth_log.read_bytes()
    # tables straight from a URL, reading the sensor chunks only
    http.reset()
    done = cli("export", http.url("run.pdlz"), str(tmp_path / "tables"), "--kinds", "scan_capacitance")
    assert done.returncode == 0, done.stderr
    assert http.reset().bytes < (archive / "run.pdlz").stat().st_size / 20
    pq = pytest.importorskip("pyarrow.parquet")
    assert pq.read_table(tmp_path / "tables" / "scan_capacitance.parquet").equals(
        open_log(archive / "run.pdlz").table("scan_capacitance")
    )


def test_a_missing_remote_log_is_one_line_naming_the_url_and_exit_code_3(http):
    url = http.url("nowhere.pdlz")
    with pytest.raises(RemoteLogError, match="not found") as caught:
        open_log(url)
    assert caught.value.path == url
    done = cli("info", url)
    assert done.returncode == 3
    assert done.stderr.strip().splitlines() == [f"pdlogkit: {url}: cannot open: not found"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}", "http://127.0.0.1:{port}/", "s3://bucket"])
def test_a_url_that_names_no_file_says_so_instead_of_blaming_a_sidecar(http, url):
    url = url.format(port=http.port)
    done = cli("info", url)
    assert done.returncode == 3
    assert done.stderr.strip().splitlines() == [
        f"pdlogkit: {url}: names no file (a server or a folder): give the log's own URL"
    ]


def test_a_refused_connection_names_the_url_whatever_the_protocol():
    pytest.importorskip("fsspec")
    url = "ftp://127.0.0.1:1/run.pdlz"  # fsspec's FTP connects as it opens
    done = cli("info", url)
    assert done.returncode == 3
    assert done.stderr.startswith(f"pdlogkit: {url}: cannot open: cannot connect"), done.stderr


def test_a_server_that_ignores_range_requests_is_refused_not_downloaded_whole(http):
    url = http.url("run.pdlz", "norange")
    with pytest.raises(RemoteLogError, match="ignores Range requests") as caught:
        open_log(url).summary()
    assert caught.value.path == url


def test_a_server_that_stops_answering_times_out_with_a_clear_error(http):
    url = http.url("run.pdlz", "slow")
    with pytest.raises(RemoteLogError, match="timed out") as caught:
        open_log(url, storage_options={"timeout": 0.5})
    assert caught.value.path == url


def test_a_log_replaced_while_being_read_is_an_error_not_a_mix_of_two_files(archive, http, sensor_log):
    shutil.copy(archive / "run.pdlz", archive / "changing.pdlz")
    with open_log(http.url("changing.pdlz")) as log:
        log.summary()
        convert(sensor_log, archive / "replacement.pdlz")
        os.replace(archive / "replacement.pdlz", archive / "changing.pdlz")
        with pytest.raises(RemoteLogError, match="changed while it was being read"):
            list(log.events(start=10.0, end=11.0))
        with pytest.raises(RemoteLogError, match="changed"):
            log.reopen()


def test_without_the_remote_extra_the_error_names_it():
    code = (
        "import sys; sys.modules['fsspec'] = None; from pdlogkit.cli import main; sys.exit(main(['info', 's3://b/k']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2  # a feature not available
    assert "pip install 'pdlogkit[remote]'" in done.stderr


def test_logs_in_s3_read_like_local_files_through_the_api_and_the_command_line(archive):
    s3fs = pytest.importorskip("s3fs")
    pytest.importorskip("moto")
    with s3_server() as options:
        fs = s3fs.S3FileSystem(**options)
        fs.mkdir("lab")
        for name in ("run.pdlz", "indexed.bin", "indexed.bin.pdidx"):
            fs.put(str(archive / name), f"lab/2026/{name}")
        for name in ("run.pdlz", "indexed.bin"):
            with open_log(archive / name) as local, open_log(f"s3://lab/2026/{name}", storage_options=options) as log:
                assert log.has_index
                assert rows(log) == rows(local)
                window = {"kinds": ["image"], "start": 2.0, "end": 3.5}
                assert rows(log, **window) == rows(local, **window)
        with pytest.raises(RemoteLogError, match="not found"):
            open_log("s3://lab/2026/missing.pdlz", storage_options=options)
        env = {"FSSPEC_S3": json.dumps({"client_kwargs": options["client_kwargs"]})}
        done = cli("info", "--json", "s3://lab/2026/run.pdlz", env=env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["source"] == "index"
