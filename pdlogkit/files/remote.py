"""Logs where they live: a `Source` over fsspec (HTTP(S), S3, and every filesystem fsspec knows).

A remote read costs a round trip, so the source asks for exactly the bytes a
reader needs: fsspec's read-ahead cache (5 MB blocks by default) is bypassed,
and only the file's first and last blocks are kept, because opening a log
reads small pieces there (the magic, a container's header, trailer and index).
A container's summary is then three requests (the file's size and identity, its
head, its tail); a time window is one request per chunk it needs, a few of them in
flight at once (the reader says which chunks come next).

Every read names the URL in its errors, and is pinned to the file as it was
opened (its ETag where the server gives one, its size always): a file replaced
underneath is an error, never a mix of two files. A server that ignores Range
requests is refused rather than allowed to send a whole multi-GB file.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import threading
import urllib.parse
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..errors import MissingDependencyError, RemoteLogError
from .sources import zero_run_end_by_reading

#: What to install for remote logs.
EXTRA = "pip install 'pdlogkit[remote]'"
#: Requests a source has in flight at most when a reader tells it the reads to come (`prefetch`).
AHEAD = 4
#: The first and last bytes of a remote file fetched (and kept) on first use.
HEAD_BLOCK = 64 << 10
TAIL_BLOCK = 256 << 10
#: Seconds without an answer (to connect, or between bytes of a response) before a read fails:
#: `timeout` in the storage options, else $PDLOGKIT_REMOTE_TIMEOUT, else 30.
TIMEOUT = 30.0

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*(::|://)")


def is_url(text: str) -> bool:
    """Whether `text` is a URL fsspec opens (`https://...`, `s3://...`, `simplecache::s3://...`), not a path."""
    return bool(_URL.match(text))


def local_path(url: str) -> str | None:
    """The local path a `file://` URL names (read as a local file: memory-mapped, no round trips), else None."""
    if url.startswith("file://"):
        return url[len("file://") :]
    return None


def _fsspec() -> Any:
    try:
        import fsspec  # type: ignore[import-untyped]
    except ImportError:
        raise MissingDependencyError(f"reading remote logs needs fsspec, which is not installed: {EXTRA}") from None
    return fsspec


def _timeout(options: dict[str, Any]) -> float:
    value = options.pop("timeout", None) or os.environ.get("PDLOGKIT_REMOTE_TIMEOUT") or TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 1e6:
        raise ValueError(f"the remote timeout must be a positive number of seconds, not {value!r}")
    return seconds


def filesystem(url: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """(fsspec filesystem, path in it) for `url`, with request timeouts; clear errors for a missing extra.

    `storage_options` are the filesystem's (fsspec's); `timeout` among them is pdlogkit's, in seconds.
    """
    fsspec = _fsspec()
    options = dict(storage_options or {})
    timeout = _timeout(options)
    protocol = url.split("::")[0].split("://")[0].lower()
    if protocol in ("http", "https"):
        try:
            import aiohttp
        except ImportError:
            raise MissingDependencyError(
                f"reading logs over {protocol} needs aiohttp, which is not installed: {EXTRA}"
            ) from None
        client = dict(options.pop("client_kwargs", {}))
        client.setdefault("timeout", aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout))
        options["client_kwargs"] = client
    elif protocol in ("s3", "s3a"):
        config = dict(options.pop("config_kwargs", {}))
        config.setdefault("connect_timeout", timeout)
        config.setdefault("read_timeout", timeout)
        config.setdefault("retries", {"max_attempts": 2})
        options["config_kwargs"] = config
    try:
        return fsspec.core.url_to_fs(url, **options)  # type: ignore[no-any-return]
    except ImportError as exc:
        raise MissingDependencyError(f"{protocol}:// needs a package that is not installed ({exc}): {EXTRA}") from None
    except ValueError as exc:
        raise RemoteLogError(f"not a URL fsspec can open ({exc})", path=url) from None
    except Exception as exc:  # a filesystem that connects at once (ftp, sftp): refused, unreachable, ...
        raise remote_error(url, exc, "cannot open") from None


def remote_error(url: str, exc: BaseException, doing: str = "") -> RemoteLogError:
    """A one-line `RemoteLogError` naming `url` for whatever fsspec, aiohttp or botocore raised."""
    what = f"{doing}: " if doing else ""
    causes: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(causes) < 8:
        causes.append(seen)
        seen = seen.__cause__ or seen.__context__
    names = {type(c).__name__ for c in causes}
    status = next((getattr(c, "status", None) for c in causes if isinstance(getattr(c, "status", None), int)), None)
    if any(isinstance(c, TimeoutError | asyncio.TimeoutError) for c in causes) or any("Timeout" in n for n in names):
        return RemoteLogError(f"{what}no answer in time (timed out)", path=url)
    if status == 412 or "FileExpired" in names:
        return RemoteLogError(f"{what}the file changed while it was being read (it was replaced)", path=url)
    if any("Connect" in n for n in names) or any(isinstance(c, ConnectionError) for c in causes):
        return RemoteLogError(f"{what}cannot connect ({causes[-1]})", path=url)
    if isinstance(exc, FileNotFoundError) or status == 404:
        return RemoteLogError(f"{what}not found", path=url)
    if isinstance(exc, PermissionError) or status in (401, 403):
        return RemoteLogError(f"{what}access denied", path=url)
    if status is not None:
        return RemoteLogError(f"{what}the server answered HTTP {status}", path=url)
    if isinstance(exc, ValueError) and "range" in str(exc).lower():
        return RemoteLogError(f"{what}{_NO_RANGES}", path=url)
    return RemoteLogError(f"{what}{type(exc).__name__}: {exc}", path=url)


_NO_RANGES = (
    "the server ignores Range requests: pdlogkit will not download a whole file to read part of it "
    "(copy it to a local file first)"
)


def _strong(etag: Any) -> str | None:
    return etag if isinstance(etag, str) and etag and not etag.startswith("W/") else None


class RemoteSource:
    """A remote file read with range requests through fsspec, pinned to the file as opened.

    `pread` fetches exactly the bytes asked for (one request), except that the
    first `HEAD_BLOCK` and last `TAIL_BLOCK` bytes are fetched whole on first use
    and kept. Reads are serialised (one request at a time per source); `reopen()`
    gives an independent source for another thread, pinned to the same file.
    """

    round_trips = True

    def __init__(
        self,
        url: str,
        *,
        storage_options: dict[str, Any] | None = None,
        pinned: dict[str, Any] | None = None,
    ) -> None:
        self.name = url
        if not urllib.parse.urlsplit(url.split("::")[-1]).path.strip("/") or url.endswith("/"):
            raise RemoteLogError("names no file (a server or a folder): give the log's own URL", path=url)
        self._options = storage_options
        self._lock = threading.Lock()
        self._head: bytes | None = None
        self._tail: bytes | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: dict[tuple[int, int], Future[bytes]] = {}
        self._fs, self._path = filesystem(url, storage_options)
        self._file = self._open(pinned)
        #: The file's identity when opened: its size and, where the server gives them, ETag and modification time.
        self.identity = {"size": self.size, **{k: v for k, v in self._details().items() if v is not None}}
        if pinned is not None and pinned != self.identity:
            self.close()
            raise RemoteLogError("the file changed while it was being read (it was replaced)", path=url)

    def _details(self) -> dict[str, Any]:
        details = getattr(self, "_http_info", None) or getattr(self._file, "details", None) or {}
        etag = details.get("ETag") or details.get("etag")
        modified = details.get("Last-Modified") or details.get("LastModified")
        return {"etag": etag, "modified": str(modified) if modified is not None else None}

    def _open(self, pinned: dict[str, Any] | None) -> Any:
        fs, path, url = self._fs, self._path, self.name
        kwargs: dict[str, Any] = {"block_size": 1 << 20, "cache_type": "none"}
        try:
            if "http" in (fs.protocol if isinstance(fs.protocol, tuple | list) else (fs.protocol,)):
                kwargs.update(self._http_pinning(fs, path, pinned))
            f = fs.open(path, "rb", **kwargs)
        except RemoteLogError:
            raise
        except Exception as exc:
            raise remote_error(url, exc, "cannot open") from None
        try:
            size = f.size if getattr(f, "size", None) is not None else f.seek(0, 2)
            if not f.seekable():
                raise RemoteLogError("cannot be read at any offset (not seekable)", path=url)
        except RemoteLogError:
            f.close()
            raise
        except Exception as exc:
            f.close()
            raise remote_error(url, exc, "cannot find its size") from None
        self.size: int = int(size)
        return f

    def _http_pinning(self, fs: Any, path: str, pinned: dict[str, Any] | None) -> dict[str, Any]:
        """HEAD once: the size, and a condition that pins every range request to this file (If-Match)."""
        info = fs.info(path)
        if info.get("size") is None:
            raise RemoteLogError("the server does not say the file's size, so it cannot be read in ranges", path=path)
        if info.get("partial") is False:
            raise RemoteLogError(_NO_RANGES, path=path)
        headers = dict(fs.kwargs.get("headers", {}))
        etag = _strong(info.get("ETag"))
        if etag is not None:
            headers["If-Match"] = etag
        elif info.get("Last-Modified"):
            headers["If-Unmodified-Since"] = info["Last-Modified"]
        # HTTPFile keeps its details (the size only): give it the rest for `identity`.
        self._http_info = {"ETag": info.get("ETag"), "Last-Modified": info.get("Last-Modified")}
        return {"size": info["size"], "headers": headers}

    def prefetch(self, reads: list[tuple[int, int]]) -> None:
        # Each read starts in a thread of its own pool (at most `AHEAD` at once) and waits for its `pread`.
        fetch = getattr(self._file, "_fetch_range", None)  # fsspec's stateless range fetch of a buffered file
        if fetch is None:
            return
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(AHEAD, thread_name_prefix="pdlogkit-fetch")
            tail_start = max(0, self.size - TAIL_BLOCK)
            for offset, n in reads:
                end = min(self.size, offset + n)
                if end <= HEAD_BLOCK or end > tail_start:
                    continue  # the file's first and last blocks, fetched once and kept, serve it
                if offset < end and (offset, end) not in self._ahead:
                    self._ahead[(offset, end)] = self._pool.submit(self._checked, fetch, offset, end)

    def pread(self, n: int, offset: int) -> bytes:
        if n <= 0 or offset < 0 or offset >= self.size:
            return b""
        end = min(self.size, offset + n)
        with self._lock:
            started = self._ahead.pop((offset, end), None)
        if started is not None:
            return started.result()
        with self._lock:
            if end <= HEAD_BLOCK or (self._head is not None and end <= len(self._head)):
                if self._head is None:
                    self._head = self._fetch(0, min(self.size, HEAD_BLOCK))
                return self._head[offset:end]
            tail_start = max(0, self.size - TAIL_BLOCK)
            if offset >= tail_start:
                if self._tail is None:
                    self._tail = self._fetch(tail_start, self.size)
                return self._tail[offset - tail_start : end - tail_start]
            if end > tail_start and self._tail is not None:  # the start of it is missing: fetch only that
                return self._fetch(offset, tail_start) + self._tail[: end - tail_start]
            return self._fetch(offset, end)

    def _fetch(self, start: int, end: int) -> bytes:
        f = self._file

        def read(start: int, end: int) -> bytes:
            f.seek(start)
            return f.read(end - start)  # type: ignore[no-any-return]

        return self._checked(read, start, end)

    def _checked(self, read: Any, start: int, end: int) -> bytes:
        """Bytes `start` to `end` by `read(start, end)`, exactly those or a `RemoteLogError` naming the URL."""
        try:
            data = read(start, end)
        except RemoteLogError:
            raise
        except Exception as exc:
            raise remote_error(self.name, exc, f"reading bytes {start}-{end - 1}") from None
        if len(data) != end - start:
            raise RemoteLogError(
                f"asked for bytes {start}-{end - 1}, got {len(data)} bytes: "
                "the file changed while it was being read, or the server ignores Range requests",
                path=self.name,
                offset=start,
            )
        return bytes(data)

    def zero_run_end(self, offset: int) -> int:
        return zero_run_end_by_reading(self, offset)

    def sibling(self, suffix: str) -> bytes | None:
        """The bytes of the small file beside this one named with `suffix` appended, or None if there is none."""
        fs, path = filesystem(self.name + suffix, self._options)
        try:
            return bytes(fs.cat_file(path))
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EACCES, errno.EPERM):
                return None
            raise remote_error(self.name + suffix, exc) from None
        except Exception as exc:
            raise remote_error(self.name + suffix, exc) from None

    def reopen(self) -> RemoteSource:
        return RemoteSource(self.name, storage_options=self._options, pinned=self.identity)

    def close(self) -> None:
        pool, self._pool = getattr(self, "_pool", None), None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)  # nothing left running: at most AHEAD requests
        self._ahead = {}
        f, self._file = getattr(self, "_file", None), None
        if f is not None:
            with contextlib.suppress(Exception):  # a reader wrote nothing: closing it cannot lose anything
                f.close()


__all__ = ["EXTRA", "HEAD_BLOCK", "TAIL_BLOCK", "TIMEOUT", "RemoteSource", "is_url", "local_path", "remote_error"]
