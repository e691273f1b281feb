"""The metadata sidecar of a classic log (`LOG.pdmeta`): what the classic format cannot hold.

A classic log is nothing but records, and every tool that reads one expects
exactly that, so its markers and metadata worth keeping (a record of what a
`recover` lost, say) live in a small JSON file beside it. A container holds
the same inside the file. Written atomically; an unreadable sidecar is ignored
with a warning, it never makes the log itself unreadable.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from typing import Any

from ..markers import Marker
from .output import open_output
from .sources import Source

SUFFIX = ".pdmeta"
FORMAT = "pdlogkit classic metadata"
VERSION = 1
#: Largest sidecar read (markers are small; this is far above any real one).
MAX_SIZE = 64 << 20


def metafile_path(log: str | os.PathLike[str]) -> str:
    """Where the metadata sidecar of `log` lives: next to it, with `.pdmeta` appended."""
    return os.fspath(log) + SUFFIX


def read_metafile(log: str | os.PathLike[str]) -> tuple[dict[str, Any], list[Marker]]:
    """(metadata, markers) from the sidecar of `log`; empty when there is none or it is unreadable."""
    path = metafile_path(log)
    try:
        if os.path.getsize(path) > MAX_SIZE:
            raise ValueError(f"over {MAX_SIZE} bytes")
        with open(path, "rb") as f:
            return _parse(f.read(), path)
    except FileNotFoundError:
        return {}, []
    except OSError as exc:
        warnings.warn(f"{path}: ignored, unreadable ({exc})", UserWarning, stacklevel=2)
        return {}, []


def read_metafile_beside(source: Source) -> tuple[dict[str, Any], list[Marker]]:
    """(metadata, markers) from the sidecar beside any source (a remote log's, say); empty when there is none."""
    data = source.sibling(SUFFIX)
    return ({}, []) if data is None else _parse(data, source.name + SUFFIX)


def _parse(raw: bytes, path: str) -> tuple[dict[str, Any], list[Marker]]:
    try:
        if len(raw) > MAX_SIZE:
            raise ValueError(f"over {MAX_SIZE} bytes")
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a pdlogkit metadata sidecar")
        metadata = data.get("metadata", {})
        markers = data.get("markers", [])
        if not isinstance(metadata, dict) or not isinstance(markers, list):
            raise ValueError("malformed")
        return metadata, [Marker.from_dict(m) for m in markers]
    except (ValueError, RecursionError) as exc:
        warnings.warn(f"{path}: ignored, unreadable ({exc})", UserWarning, stacklevel=3)
        return {}, []


#: Metadata worth a sidecar of its own: what a later reader must not lose (with any markers).
KEPT = ("incomplete", "board", "device_info")


def update_metafile(log: str | os.PathLike[str], metadata: dict[str, Any], markers: list[Marker]) -> str | None:
    """Give a newly written classic log the sidecar it needs: written when it has markers or metadata worth
    keeping (`KEPT`), removed otherwise (a sidecar left by an earlier file there would misdescribe it)."""
    if markers or any(key in metadata for key in KEPT):
        return write_metafile(log, metadata, markers)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(metafile_path(log))
    return None


def write_metafile(log: str | os.PathLike[str], metadata: dict[str, Any], markers: list[Marker]) -> str:
    """Write (or replace) the sidecar of `log`, atomically; return its path."""
    path = metafile_path(log)
    data = {"format": FORMAT, "version": VERSION, "metadata": metadata, "markers": [m.to_dict() for m in markers]}
    out = open_output(path, overwrite=True)
    try:
        out.write(json.dumps(data, indent=1, default=str).encode())
        out.commit()
    except BaseException:
        out.abort()
        raise
    return path


__all__ = ["SUFFIX", "metafile_path", "read_metafile", "read_metafile_beside", "write_metafile"]
