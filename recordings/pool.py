"""Transcoding off the event loop: a bounded pool of processes.

At most ``workers`` files are transcoded at once whatever the backlog (more would only thrash the CPU the
calls need). A child that dies (killed, out of memory) breaks a ``ProcessPoolExecutor`` for good; the pool
is then made anew, and the step that met it is tried again later.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")


class PoolBroken(RuntimeError):
    """The process running the step died; the pool has been replaced."""


class ProcessPool:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._slots = asyncio.Semaphore(workers)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # forkserver: children do not inherit the event loop, its threads and open sockets.
            context = multiprocessing.get_context("forkserver")
            self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return self._executor

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a child process (``fn`` and the arguments must pickle)."""
        async with self._slots:
            executor = self._pool()
            try:
                return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
            except BrokenProcessPool as exc:
                if self._executor is executor:
                    self._executor = None
                    executor.shutdown(wait=False, cancel_futures=True)
                raise PoolBroken("the transcoding process died") from exc

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
