"""Shared fixtures: real data from ../shared/data and small synthetic logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdlogkit.synth import write_log

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: two real camera frames and real board definitions."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA}")
    return SHARED_DATA


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
