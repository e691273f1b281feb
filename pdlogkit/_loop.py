"""An asyncio event loop in a daemon thread: the engine behind the synchronous faces
of the recorder, the synthetic gateway and the replay server."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class BackgroundLoop:
    """Runs coroutines on a private event loop in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    @property
    def alive(self) -> bool:
        """Whether the loop's thread is still running."""
        return self._thread.is_alive()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the loop and wait for its result; TimeoutError after `timeout` seconds."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout} s") from None

    def close(self, timeout: float = 5.0) -> None:
        """Stop the loop (cancelling what still runs on it) and join its thread."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)


S = TypeVar("S", bound="LoopService")


class LoopService:
    """A service with async `start()`/`stop()`, usable both ways.

    `async with` runs it in the caller's event loop; a plain `with` runs it on a
    private loop in a background thread (`_background`), for synchronous code.
    """

    thread_name = "pdlogkit-service"
    start_timeout = 60.0
    stop_timeout = 30.0
    _background: BackgroundLoop | None = None

    async def start(self) -> None:
        """Start serving."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop serving and release everything."""
        raise NotImplementedError

    async def __aenter__(self: S) -> S:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __enter__(self: S) -> S:
        self._background = BackgroundLoop(self.thread_name)
        try:
            self._background.run(self.start(), timeout=self.start_timeout)
        except BaseException:
            self._background.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._background is not None
        try:
            self._background.run(self.stop(), timeout=self.stop_timeout)
        finally:
            self._background.close()
