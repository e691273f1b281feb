"""What every command shares: exit codes, argument types, progress on a terminal, JSON output."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TextIO, TypeVar

from ..activity import MAX_ROLL
from ..errors import (
    BoardError,
    FullScanWarning,
    GatewayUnreachable,
    LogReadError,
    MissingDependencyError,
    OutputError,
    PdlogkitError,
    TruncatedLogWarning,
)

#: Exit codes of every pdlogkit command.
OK = 0
PROBLEMS = 1  # the command ran and found or caused problems (verify, recover with losses)
USAGE = 2  # wrong arguments, or the feature is not available
BAD_INPUT = 3  # a log could not be read: missing, unreadable, not a log
UNREACHABLE = 4  # the gateway could not be reached
INTERRUPTED = 130  # Ctrl-C
TERMINATED = 143  # SIGTERM


class Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C, so outputs being written are removed."""


# ---------------------------------------------------------------- argument types

#: The largest number of seconds an option takes (about 300 years).
MAX_SECONDS = 1e10


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of {what}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number of {what}")
    return value


def number_from(lo: float, hi: float, what: str, note: str = "") -> Callable[[str], float]:
    """An argparse type: a finite number of `what` from `lo` to `hi` (`note` says why the limit)."""

    def parse(text: str) -> float:
        value = _number(text, what)
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{text!r} must be from {lo:g} to {hi:g} {what}{note}")
        return value

    return parse


#: A finite number of seconds, zero or more.
seconds = number_from(0, MAX_SECONDS, "seconds")
#: A pre- or post-roll: seconds from 0 to a day (what the recorder and the activity gate take).
roll_seconds = number_from(0, MAX_ROLL, "seconds", " (a day)")


def positive_seconds(text: str) -> float:
    """A finite number of seconds, more than zero."""
    value = seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 seconds")
    return value


def megabytes(text: str) -> float:
    """A finite, positive size in megabytes (at most a terabyte)."""
    value = _number(text, "megabytes")
    if not 0 < value <= 1e6:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 and at most 1000000 megabytes")
    return value


def port(text: str) -> int:
    """A TCP port, 0-65535 (0: a free one)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535; 0 picks a free one)")
    return value


def time_bound(text: str) -> float | dt.datetime:
    """A window bound: seconds from the log's start, or an ISO 8601 date-time with a time zone."""
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value) or abs(value) > MAX_SECONDS:
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number of seconds (at most {MAX_SECONDS:g})")
        return value
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither seconds from the start nor an ISO date-time (2026-01-01T10:00:00Z)"
        ) from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; add one (Z or +01:00)")
    return when


def fmt_bytes(n: float) -> str:
    """1234567 -> '1.2 MB'."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def fmt_duration(seconds: float) -> str:
    """3725.2 -> '1:02:05'."""
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


S = TypeVar("S", bound="StatusLine")


class StatusLine:
    """One line rewritten in place on a terminal, at most `hz` times a second; silent when not a terminal."""

    def __init__(self, stream: TextIO | None = None, *, hz: float = 8.0, enabled: bool | None = None) -> None:
        self._stream = stream or sys.stderr
        self.enabled = self._stream.isatty() if enabled is None else enabled
        self._every = 1.0 / hz
        self._last = 0.0
        self._width = 0

    def show(self, text: str, *, force: bool = False) -> None:
        """Show `text` (throttled unless `force`)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self._every:
            return
        self._last = now
        pad = max(0, self._width - len(text))
        self._stream.write("\r" + text + " " * pad)
        self._stream.flush()
        self._width = len(text)

    def close(self) -> None:
        """End the line so later output starts on a fresh one."""
        if self.enabled and self._width:
            self._stream.write("\n")
            self._stream.flush()
            self._width = 0

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Progress(StatusLine):
    """A progress bar toward `total` (bytes unless `unit` says otherwise), for long work on a terminal."""

    def __init__(self, total: float | None, label: str, *, unit: str = "B", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.total = total
        self.label = label
        self.unit = unit
        self.done = 0.0
        self._start = time.monotonic()

    def update(self, done: float, *, force: bool = False) -> None:
        """Set what is done so far."""
        self.done = done
        if not self.enabled:
            return
        elapsed = max(1e-9, time.monotonic() - self._start)
        amount = fmt_bytes if self.unit == "B" else (lambda n: f"{n:.0f} {self.unit}")
        rate = f"{amount(done / elapsed)}/s"
        if self.total:
            frac = min(1.0, done / self.total)
            bar = "#" * int(frac * 24)
            self.show(f"{self.label} [{bar:<24}] {frac:6.1%} {amount(done)} {rate}", force=force)
        else:
            self.show(f"{self.label} {amount(done)} {rate}", force=force)


def log_argument(name: str) -> str | BinaryIO:
    """A log argument: a path or URL, or - for stdin (read unbuffered, by its descriptor)."""
    if name != "-":
        return name
    return open(sys.stdin.fileno(), "rb", buffering=0, closefd=False)


def print_json(data: Any, stream: TextIO | None = None) -> None:
    """Machine output: one JSON document."""
    json.dump(data, stream or sys.stdout, indent=2, default=str)
    (stream or sys.stdout).write("\n")


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM raises `Terminated` in the main thread (commands that stop cleanly on it install their own)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(*_: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


Command = Callable[[argparse.Namespace], int | None]
C = TypeVar("C", bound=Command)


def reports_truncation(func: C) -> C:
    """Mark a command that says itself when a log is cut short (in its report), so `run` does not say it again."""
    func.reports_truncation = True  # type: ignore[attr-defined]
    return func


def run(func: Command, args: argparse.Namespace, prog: str = "pdlogkit") -> int:
    """Call a command, turning pdlogkit errors into a one-line message and an exit code.

    A log found cut short is said once, as a warning line, unless the command
    reports it itself; a slow remote read says why; other warnings are silenced.
    """
    said: set[str] = set()

    def show(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
        text = str(message)
        if text not in said:
            said.add(text)
            print(f"{prog}: warning: {text}", file=sys.stderr)

    try:
        with warnings.catch_warnings(), _sigterm_unwinds():
            warnings.simplefilter("ignore")
            warnings.simplefilter("always", FullScanWarning)
            if not getattr(func, "reports_truncation", False):
                warnings.simplefilter("always", TruncatedLogWarning)
            warnings.showwarning = show
            return int(func(args) or 0)
    except GatewayUnreachable as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return UNREACHABLE
    except BoardError as exc:  # a --board that is not found or not a board definition: a wrong argument
        print(f"{prog}: {exc}", file=sys.stderr)
        return USAGE
    except MissingDependencyError as exc:  # a feature not installed: the message names the extra
        print(f"{prog}: {exc}", file=sys.stderr)
        return USAGE
    except LogReadError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return BAD_INPUT
    except OutputError as exc:  # a write failure: the output is not left half-written
        print(f"{prog}: {exc}", file=sys.stderr)
        return PROBLEMS
    except PdlogkitError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return PROBLEMS
    except BrokenPipeError:  # the reader went away (`... | head`): not an error of ours
        sys.stdout = None  # type: ignore[assignment]  # nothing more can be written; silence the final flush
        return OK
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prog}: {where}{exc.strerror or exc}", file=sys.stderr)
        return BAD_INPUT
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except Terminated:
        print(f"{prog}: terminated", file=sys.stderr)
        return TERMINATED
