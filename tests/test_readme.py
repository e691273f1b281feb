"""Every Python example in the README runs as written, against a synthetic gateway and synthetic logs.

Each ```python block runs in a fresh interpreter, in a folder of its own holding
`run.bin` (20 s with camera), `run.pdlz` (the same as a container) and
`crashed.pdlz` (a container cut short), also in `tests/data/` for pytest
examples. The gateway the README calls
`ws://purpledrop:7001` (and its control API on port 7000) is a live synthetic
gateway on 127.0.0.1 here: that host name is the only text replaced. A block whose
first line is a comment naming a test file (`# tests/test_....py`) is a pytest
file: it is written there and run with pytest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pdlogkit import convert
from pdlogkit.synth import SynthGateway, write_log

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def examples() -> list[tuple[str, str]]:
    """(id, code) of every Python block, the id naming the README section and line."""
    text = README.read_text()
    found = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        section = [h for h in re.findall(r"^## (.+)$", text[: match.start()], re.M)][-1]
        slug = re.sub(r"[^a-z0-9]+", "-", section.lower()).strip("-")
        found.append((f"{slug}:{line}", match.group(1)))
    return found


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("readme-data")
    write_log(folder / "run.bin", 20.0, seed=5)
    convert(folder / "run.bin", folder / "run.pdlz")
    whole = (folder / "run.pdlz").read_bytes()
    (folder / "crashed.pdlz").write_bytes(whole[: len(whole) * 2 // 3])
    return folder


@pytest.fixture(scope="module")
def gateway():
    with SynthGateway() as gw:
        yield gw


@pytest.mark.parametrize("code", [code for _, code in examples()], ids=[name for name, _ in examples()])
def test_the_readme_example_runs_as_written(code: str, data: Path, gateway: SynthGateway, tmp_path: Path) -> None:
    for name in ("run.bin", "run.pdlz", "crashed.pdlz"):
        shutil.copy(data / name, tmp_path / name)
    code = code.replace("ws://purpledrop:7001", gateway.ws_url)
    test_name = re.match(r"# (tests/\S+\.py)\b", code)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    if test_name:
        test_file = tmp_path / test_name.group(1)
        (test_file.parent / "data").mkdir(parents=True, exist_ok=True)
        for name in ("run.bin", "run.pdlz"):  # where a test folder keeps its logs
            shutil.copy(data / name, test_file.parent / "data" / name)
        test_file.write_text(code)
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)]
    else:
        script = tmp_path / "example.py"
        script.write_text(code)
        command = [sys.executable, str(script)]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
