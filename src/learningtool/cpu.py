"""A bounded process pool for CPU-bound work (extraction, OCR, speech to text).

Threads would keep the GIL busy and delay the event loop; processes do not. A task that
overruns its time cap cannot be cancelled inside a `ProcessPoolExecutor`, so the pool's
processes are killed and a fresh pool replaces it: the overrunning task fails with a timeout
and any other task in flight fails as interrupted (its job is retried).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")


class CpuTimeout(Exception):
    pass


class CpuInterrupted(Exception):
    """The pool was reset under this task (another task overran its time cap)."""


class CpuPool:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    async def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn: forking a process that runs an event loop and threads is unsafe.
            context = multiprocessing.get_context("spawn")
            self._executor = await asyncio.to_thread(
                ProcessPoolExecutor, self.workers, mp_context=context
            )
        return self._executor

    async def run(self, seconds: float, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` in a worker process; give up after `seconds`.

        Creating the pool and submitting to it start processes and write to pipes, which
        would block the loop: both happen in a thread."""
        executor = await self._pool()
        try:
            async with asyncio.timeout(seconds):
                future = await asyncio.to_thread(executor.submit, fn, *args)
                return await asyncio.wrap_future(future)
        except TimeoutError:
            await self._reset(executor)
            raise CpuTimeout(f"gave up after {seconds:g} s") from None
        except BrokenProcessPool:
            await self._reset(executor)
            raise CpuInterrupted("the worker process stopped") from None

    async def _reset(self, executor: ProcessPoolExecutor) -> None:
        if self._executor is not executor:
            return
        self._executor = None
        await asyncio.to_thread(_kill, executor)

    async def close(self) -> None:
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)


def _kill(executor: ProcessPoolExecutor) -> None:
    for process in list(getattr(executor, "_processes", {}).values()):
        process.kill()
    executor.shutdown(wait=True, cancel_futures=True)
