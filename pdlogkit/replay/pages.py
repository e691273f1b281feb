"""What the control API serves on `GET`: a static web app (`--web-ui`), or pdlogkit's viewer and a status page.

A web app is a folder, or a `.tar.gz` of one (such as the gateway's own
`frontend-dist.tar.gz`): its files are read into memory once at start-up (a web
app's build is a few MB), so serving never touches the disk from the event loop.
`GET /` is its `index.html`. Without one, `GET /` is the viewer (the static files in
`web/`, package data) and `GET /status` a small status page.
"""

from __future__ import annotations

import html
import mimetypes
import os
import posixpath
import tarfile
from collections.abc import Callable
from importlib import resources
from typing import Any, NamedTuple

from ..errors import ReplayError

#: Largest web app read into memory, and most files in it.
MAX_WEB_UI_BYTES = 256 * 1024 * 1024
MAX_WEB_UI_FILES = 20_000

_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".map": "application/json"}


class Page(NamedTuple):
    """A response body and its content type."""

    body: bytes
    content_type: str


#: Where the status page is when the viewer is at `/`.
STATUS_PATH = "/status"


class Pages:
    """The pages served on GET: a static web app's files if one is given; else the viewer's files (`viewer`,
    at `/`) and the status page at `/status`, or without a viewer the status page at `/`."""

    def __init__(
        self, status_page: Callable[[], bytes], web_ui: WebApp | None = None, viewer: WebApp | None = None
    ) -> None:
        self._status_page = status_page
        self.web_ui = web_ui
        self.viewer = viewer

    def get(self, path: str) -> Page | None:
        """The page at a URL path, or None."""
        if self.web_ui is not None:
            return self.web_ui.get(path)
        if path == (STATUS_PATH if self.viewer is not None else "/"):
            return Page(self._status_page(), "text/html; charset=utf-8")
        return self.viewer.get(path) if self.viewer is not None else None


class WebApp:
    """A static web app held in memory: URL path (no leading slash) -> file bytes."""

    def __init__(self, files: dict[str, bytes], source: str) -> None:
        self.source = source
        self.files = _strip_common_folder(files)
        if "index.html" not in self.files:
            raise ReplayError(f"web UI {source} has no index.html")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> WebApp:
        """Read a web app from a folder or a `.tar.gz`/`.tgz`/`.tar` file (ReplayError if it cannot be)."""
        path = os.fspath(path)
        if os.path.isdir(path):
            return cls(_read_folder(path), path)
        if os.path.isfile(path):
            return cls(_read_tarball(path), path)
        raise ReplayError(f"web UI {path} is neither a folder nor a file")

    def get(self, path: str) -> Page | None:
        name = posixpath.normpath("/" + path.lstrip("/")).lstrip("/")
        if name in ("", "."):
            name = "index.html"
        body = self.files.get(name)
        if body is None and not posixpath.splitext(name)[1]:
            body = self.files.get(posixpath.join(name, "index.html"))
            name = posixpath.join(name, "index.html")
        if body is None:
            return None
        return Page(body, content_type(name))


def viewer_app() -> WebApp:
    """pdlogkit's viewer: the static files of `web/` (package data), read into memory."""
    folder = resources.files("pdlogkit.replay") / "web"
    files = {entry.name: entry.read_bytes() for entry in folder.iterdir() if entry.is_file()}
    return WebApp(files, "pdlogkit viewer")


def content_type(name: str) -> str:
    ext = posixpath.splitext(name)[1].lower()
    guessed = _TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def _room(files: dict[str, bytes], size: int, total: list[int], source: str) -> None:
    """Count a file of `size` bytes in; ReplayError once the web app is larger than the limits."""
    total[0] += size
    if total[0] > MAX_WEB_UI_BYTES or len(files) >= MAX_WEB_UI_FILES:
        raise ReplayError(
            f"web UI {source} is too large: at most {MAX_WEB_UI_FILES} files and {MAX_WEB_UI_BYTES >> 20} MB"
        )


def _read_folder(root: str) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = [0]
    try:
        for folder, _, names in os.walk(root):
            for name in names:
                full = os.path.join(folder, name)
                if not os.path.isfile(full):
                    continue
                _room(files, os.path.getsize(full), total, root)
                with open(full, "rb") as f:
                    files[os.path.relpath(full, root).replace(os.sep, "/")] = f.read(MAX_WEB_UI_BYTES)
    except OSError as exc:
        raise ReplayError(f"cannot read web UI {root}: {exc.strerror or exc}") from None
    return files


def _read_tarball(path: str) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = [0]
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if not member.isfile():  # links, devices and folders are not served
                    continue
                name = posixpath.normpath(member.name).lstrip("/")
                if name.startswith("../") or name == "..":
                    continue
                _room(files, member.size, total, path)
                extracted = tar.extractfile(member)
                if extracted is not None:
                    files[name] = extracted.read(MAX_WEB_UI_BYTES)
    except (OSError, tarfile.TarError, EOFError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ReplayError(f"cannot read web UI {path}: {reason}") from None
    return files


def _strip_common_folder(files: dict[str, bytes]) -> dict[str, bytes]:
    """A tarball of `dist/...`: serve `dist/index.html` as `/` (one level, when everything is in one folder)."""
    if "index.html" in files or not files:
        return files
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1 and all("/" in name for name in files):
        return {name.split("/", 1)[1]: data for name, data in files.items()}
    return files


def status_page(status: dict[str, Any], log_path: str, ws_url: str) -> bytes:
    """The small HTML page `GET /` shows without a web UI: the log and the playback status."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in status.items())
    page = (
        "<!doctype html><meta charset=utf-8><title>pdlogkit replay</title>"
        f"<h1>pdlogkit replay</h1><p>{html.escape(printable(log_path))}</p><table>{rows}</table>"
        f"<p>Events: <code>{html.escape(ws_url)}</code>; control: <code>POST /rpc</code>, "
        "methods at <a href=/rpc/map>/rpc/map</a>.</p>"
    )
    return page.encode("utf-8", "replace")


def printable(path: str) -> str:
    """A file name as text: bytes that are not UTF-8 (kept by the OS as surrogates) shown as \\xNN."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
