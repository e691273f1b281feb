"""`export_log` and `pdlogkit export`: Parquet and CSV read back with pyarrow and pandas, written safely."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pd = pytest.importorskip("pandas")

from pdlogkit import LogFormatError, OutputExistsError, WindowError, open_log  # noqa: E402
from pdlogkit.cli import main  # noqa: E402
from pdlogkit.export import TABLES, decode_metadata, export_log  # noqa: E402
from pdlogkit.export.foxglove import layout_path  # noqa: E402
from pdlogkit.files.classic import ClassicWriter  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_folder_gets_one_parquet_file_per_table_that_reads_back_as_the_table(synth_log, tmp_path):
    out = tmp_path / "tables"
    report = export_log(synth_log, out)
    assert sorted(os.listdir(out)) == sorted(f"{t}.parquet" for t in TABLES)
    assert _leftovers(tmp_path) == []
    with open_log(synth_log) as log:
        for table in ("scan_capacitance", "electrode_state", "activations", "image"):
            back = pq.read_table(out / f"{table}.parquet")
            assert back.equals(log.table(table))
            assert decode_metadata(back.schema)["table"] == table
            assert report.tables[table] == back.num_rows
        times = pq.read_table(out / "active_capacitance.parquet").schema.field("time").type
    assert times == pa.timestamp("ns", tz="UTC")  # Parquet 2.6 keeps nanoseconds
    df = pd.read_parquet(out / "scan_capacitance.parquet")
    assert str(df["time"].dtype) == "datetime64[ns, UTC]" and len(df) == report.tables["scan_capacitance"]


def test_csv_reads_back_with_pandas(synth_log, tmp_path):
    out = tmp_path / "csv"
    export_log(synth_log, out, format="csv", kinds=["group_capacitance", "electrode_state"])
    assert sorted(os.listdir(out)) == ["electrode_state.csv", "group_capacitance.csv"]
    with open_log(synth_log) as log:
        expected = log.to_pandas("group_capacitance")
        states = log.to_pandas("electrode_state")
    df = pd.read_csv(out / "group_capacitance.csv", parse_dates=["time", "timestamp"])
    assert len(df) == len(expected)
    assert (df["time"] == expected["time"]).all()
    assert df["raw"].tolist() == pytest.approx(expected["raw"].astype(float).tolist(), rel=1e-6)
    back = pd.read_csv(out / "electrode_state.csv")
    assert [json.loads(v) for v in back["electrodes"]] == [list(v) for v in states["electrodes"]]


def test_one_table_to_one_file(sensor_log, tmp_path):
    out = tmp_path / "scan.parquet"
    export_log(sensor_log, out, kinds=["scan_capacitance"], start=10, end=20)
    with open_log(sensor_log) as log:
        assert pq.read_table(out).equals(log.table("scan_capacitance", start=10, end=20))
    with pytest.raises(ValueError, match="one parquet file"):
        export_log(sensor_log, tmp_path / "two.parquet", kinds=["scan_capacitance", "hv_regulator"])


def test_an_existing_output_is_replaced_only_when_asked(sensor_log, tmp_path):
    out = tmp_path / "tables"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(OutputExistsError):
        export_log(sensor_log, out, kinds=["hv_regulator"])
    assert (out / "mine.txt").read_text() == "keep me"
    export_log(sensor_log, out, kinds=["hv_regulator"], overwrite=True)
    assert os.listdir(out) == ["hv_regulator.parquet"]
    assert _leftovers(tmp_path) == []


def test_a_failed_or_interrupted_export_leaves_nothing(tmp_path, synth_log):
    from pdlogkit import schema as pb

    log = tmp_path / "bad.bin"
    good = pb.PurpleDropEvent(hv_regulator=pb.HvRegulator(voltage=1.0)).SerializeToString()
    with ClassicWriter(log) as w:
        w.write(good)
        w.write(good[:1] + b"\x7f" + good[2:])  # the hv_regulator's length runs past the payload
    for out in (tmp_path / "tables", tmp_path / "hv.csv"):
        with pytest.raises(LogFormatError):
            export_log(log, out, kinds=["hv_regulator"])
        assert not out.exists()

    def ctrl_c(done, total):
        raise KeyboardInterrupt

    for out in (tmp_path / "run.mcap", tmp_path / "all"):
        with pytest.raises(KeyboardInterrupt):
            export_log(synth_log, out, progress=ctrl_c)
        assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_a_window_outside_the_log_writes_nothing(sensor_log, tmp_path):
    with pytest.raises(WindowError):
        export_log(sensor_log, tmp_path / "late", start=1000)
    assert list(tmp_path.iterdir()) == []


def test_pdlogkit_export_command(sensor_log, tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["export", str(sensor_log), str(out), "--kinds", "hv_regulator", "activations", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tables"]["hv_regulator"] > 0 and report["format"] == "parquet"
    assert main(["export", str(sensor_log), str(out), "--kinds", "hv_regulator"]) == 1  # exists
    assert "--force" in capsys.readouterr().err
    assert main(["export", str(sensor_log), str(tmp_path / "run.mcap"), "--layout", str(tmp_path / "layout.json")]) == 0
    printed = capsys.readouterr().out
    assert "/purpledrop/scan_capacitance" in printed
    layout = json.loads((tmp_path / "layout.json").read_text())
    assert layout["configById"]["Image!pdcamera"]["imageMode"]["imageTopic"] == "/camera/image"
    assert main(["export", str(sensor_log), str(tmp_path / "x"), "--start", "5000"]) == 1
    with pytest.raises(SystemExit) as usage:
        main(["export", str(sensor_log), str(tmp_path / "y"), "--kinds", "capacitance"])
    assert usage.value.code == 2
    assert main(["export", str(tmp_path / "missing.bin"), str(tmp_path / "z")]) == 3


def test_the_shipped_layout_names_topics_an_export_has(sensor_log, synth_log):
    layout = json.loads(Path(layout_path()).read_text())
    paths = [p["value"] for c in layout["configById"].values() for p in c.get("paths", [])]
    topics = {p.split(".")[0] for p in paths} | {layout["configById"]["Image!pdcamera"]["imageMode"]["imageTopic"]}
    with open_log(synth_log) as log:
        kinds = set(log.summary().counts)
    assert topics <= {f"/purpledrop/{k}" for k in kinds} | {"/camera/image"}


def test_import_pdlogkit_stays_light_and_tables_name_their_extra():
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "import pdlogkit, pdlogkit.export\n"
        "from pdlogkit import MissingDependencyError\n"
        "assert 'pandas' not in sys.modules and 'numpy' not in sys.modules\n"
        "try:\n"
        "    pdlogkit.export.record_batches\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert "pip install 'pdlogkit[tables]'" in result.stdout


def test_a_piped_log_exports_one_table_or_mcap(sensor_log, tmp_path):
    import threading

    def piped():
        read, write = os.pipe()
        data = sensor_log.read_bytes()

        def feed():
            with contextlib.suppress(BrokenPipeError), os.fdopen(write, "wb") as f:
                f.write(data)  # a reader that refuses the stream closes it early

        threading.Thread(target=feed, daemon=True).start()
        return os.fdopen(read, "rb")

    with piped() as stream:
        export_log(stream, tmp_path / "hv.parquet", kinds=["hv_regulator"])
    with open_log(sensor_log) as log:
        assert pq.read_table(tmp_path / "hv.parquet").equals(log.table("hv_regulator"))
        events = log.summary().events
    with piped() as stream:
        assert export_log(stream, tmp_path / "run.mcap").events == events
    with piped() as stream, pytest.raises(ValueError, match="stream"):
        export_log(stream, tmp_path / "folder")
    assert not (tmp_path / "folder").exists()
