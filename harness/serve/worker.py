"""The single thread that touches the model (see `engine` for why one), and the cancel flags of what it has queued."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from starlette.requests import Request

from harness.serve.protocol import ServeError

T = TypeVar("T")


class Worker:
    """The single thread that touches the model, and the cancel flags of what it has queued."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-serve-model")
        self.flags: set[threading.Event] = set()

    async def run(self, fn: Callable[[threading.Event], T], cancel: threading.Event | None = None) -> T:
        cancel = cancel or threading.Event()
        self.flags.add(cancel)

        def job() -> T:
            if cancel.is_set():
                raise ServeError(499, "request cancelled")
            return fn(cancel)

        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, job)
        except BaseException:
            cancel.set()  # failed or abandoned: the worker must not keep going for nobody
            raise
        finally:
            self.flags.discard(cancel)

    async def run_all(self, request: Request, fns: list[Callable[[threading.Event], T]]) -> list[T]:
        """Run `fns` in turn; if the client disconnects meanwhile, cancel them (a non-streaming
        handler is not told by the framework, and the one worker would generate for nobody)."""
        cancel = threading.Event()

        async def watch() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            cancel.set()

        watcher = asyncio.ensure_future(watch())
        try:
            return [await self.run(fn, cancel) for fn in fns]
        finally:
            watcher.cancel()

    def close(self) -> None:
        for flag in list(self.flags):
            flag.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
