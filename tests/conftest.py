"""Shared fixtures: real data shipped with the repository and small synthetic logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdlogkit.synth import write_log

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
BOARDS = REPO / "pdlogkit" / "boards"


@pytest.fixture(scope="session")
def real_frames() -> list[bytes]:
    """Two real 1024x768 PurpleDrop camera frames (tests/data/frames)."""
    return [p.read_bytes() for p in sorted((DATA / "frames").glob("*.jpg"))]


@pytest.fixture(scope="session")
def boards() -> Path:
    """The folder of the eight real board definitions shipped with the package."""
    return BOARDS


@pytest.fixture(scope="session")
def synth_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20 s synthetic classic log with camera frames (read-only: copy it before changing it)."""
    path = tmp_path_factory.mktemp("synth") / "run.bin"
    write_log(path, 20.0, seed=1)
    return path


@pytest.fixture(scope="session")
def sensor_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60 s synthetic classic log without camera (read-only)."""
    path = tmp_path_factory.mktemp("synth") / "sensors.bin"
    write_log(path, 60.0, seed=2, camera=False)
    return path


@pytest.fixture(scope="session")
def boardless_log(sensor_log: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sensor log without the metadata sidecar that names its (synthetic) board: a log of no known board."""
    path = tmp_path_factory.mktemp("boardless") / "sensors.bin"
    path.write_bytes(sensor_log.read_bytes())
    return path
