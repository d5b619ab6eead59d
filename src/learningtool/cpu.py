"""A bounded pool of processes for CPU-bound work (extraction, OCR, speech to text, embedding).

Threads would keep the GIL busy and delay the event loop; processes do not. The pool is a set
of slots, each one process of its own (a one-worker `ProcessPoolExecutor`), handed to one task
at a time:
- a task's time cap counts only while it runs: waiting for a free slot is not charged to it
  (a queue of slow OCR jobs used to make the files behind them fail);
- a task that overruns, or whose caller gives up on it, is stopped by killing its own
  process only: no other task is interrupted;
- each process runs at a lower scheduling priority (`NICENESS`): on a machine with few cores,
  extraction and embedding would otherwise take CPU time from the API process and show up as
  event-loop lag in every request (the graph worker process gets the same treatment);
- a process idle for `idle_seconds` may be stopped, giving back the memory of the models it
  loaded (speech to text and OCR take hundreds of MiB); the next task starts one again;
- each process may get an address-space limit (`memory_mb` beyond its start-up footprint), so
  a document that would need gigabytes fails with `CpuMemoryError` instead of taking the
  machine's memory (Linux: the limit is read from /proc; elsewhere there is none).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")

# Added to the niceness of every background process: the scheduler then serves the API
# process first when the cores are busy, and the background work still gets all idle time.
NICENESS = 10


class CpuTimeout(Exception):
    pass


class CpuInterrupted(Exception):
    """The task's process stopped under it (killed from outside, or crashed)."""


class CpuMemoryError(Exception):
    """The task needed more memory than its process may use."""


def lower_priority(pid: int = 0) -> None:
    """Raise the niceness of process `pid` (0: this one) by `NICENESS`, where the platform
    has priorities; a process may always lower its own or its children's priority."""
    if hasattr(os, "setpriority"):
        current = os.getpriority(os.PRIO_PROCESS, pid)
        os.setpriority(os.PRIO_PROCESS, pid, min(19, current + NICENESS))


def _prepare(headroom_bytes: int | None) -> None:
    """Runs in each process before its first task: a lower priority, and on Linux the memory
    limit (`_limit_memory`)."""
    lower_priority()
    if headroom_bytes is not None and sys.platform.startswith("linux"):
        _limit_memory(headroom_bytes)


def _limit_memory(headroom_bytes: int) -> None:
    """Caps this process's address space (heap, mappings, thread stacks) at what it holds now
    plus `headroom_bytes`. The start-up footprint is not
    ours to choose (a spawned process imports the parent's main module first: under
    `langgraph dev` that is a whole server), so a fixed cap could leave no room at all."""
    import resource

    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[0])
    limit = pages * resource.getpagesize() + headroom_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class _Slot:
    """One process, started on first use and replaced after it is killed."""

    def __init__(self, memory_bytes: int | None) -> None:
        self.memory_bytes = memory_bytes
        self.executor: ProcessPoolExecutor | None = None
        self.released = 0  # which release this is: an idle timer acts on its own only

    async def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Creating the process and writing to its pipe block: both happen in a thread."""
        if self.executor is None:
            self.executor = await asyncio.to_thread(self._start)
        return await asyncio.to_thread(self.executor.submit, fn, *args)

    def _start(self) -> ProcessPoolExecutor:
        # spawn: forking a process that runs an event loop and threads is unsafe.
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(
            1, mp_context=context, initializer=_prepare, initargs=(self.memory_bytes,)
        )

    async def kill(self) -> None:
        executor, self.executor = self.executor, None
        if executor is not None:
            await asyncio.to_thread(_kill, executor)

    async def close(self) -> None:
        executor, self.executor = self.executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)


class CpuPool:
    """Slots handed out in order of arrival, except that an urgent task (a question's
    embedding, which a person waits for) goes before every bulk task still waiting (an
    ingestion's batches): it waits for one running task at most, not for the queue."""

    def __init__(
        self, workers: int, *, memory_mb: int | None = None, idle_seconds: float | None = None
    ) -> None:
        self.workers = workers
        self.memory_mb = memory_mb
        self.idle_seconds = idle_seconds
        self._releases = itertools.count(1)
        self._stopping: set[asyncio.Task[None]] = set()
        memory_bytes = memory_mb * 2**20 if memory_mb else None
        self._free = [_Slot(memory_bytes) for _ in range(max(1, workers))]
        self._slots = list(self._free)
        self._waiting: list[tuple[int, int, asyncio.Future[_Slot]]] = []  # a heap
        self._arrivals = itertools.count()

    async def run(
        self, seconds: float, fn: Callable[..., T], *args: Any, urgent: bool = False
    ) -> T:
        """Run `fn(*args)` in a process of the pool once one is free; give up after `seconds`
        of running."""
        slot = await self._acquire(urgent)
        try:
            return await self._run_on(slot, seconds, fn, *args)
        finally:
            self._release(slot)

    async def _acquire(self, urgent: bool) -> _Slot:
        if self._free and not self._waiting:
            return self._free.pop()
        turn: asyncio.Future[_Slot] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (0 if urgent else 1, next(self._arrivals), turn))
        try:
            return await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # handed a slot, then cancelled
                self._release(turn.result())
            raise

    def _release(self, slot: _Slot) -> None:
        while self._waiting:
            turn = heapq.heappop(self._waiting)[2]
            if not turn.done():  # a cancelled waiter is skipped
                turn.set_result(slot)
                return
        self._free.append(slot)
        slot.released = next(self._releases)
        if self.idle_seconds and slot.executor is not None:
            loop = asyncio.get_running_loop()
            loop.call_later(self.idle_seconds, self._stop_if_idle, slot, slot.released)

    def _stop_if_idle(self, slot: _Slot, released: int) -> None:
        """Stop the slot's process if nothing used it since this timer was set. The slot is
        out of the free list while its process stops, then back, to start on next use."""
        if slot.released != released or slot not in self._free or slot.executor is None:
            return
        self._free.remove(slot)
        task = asyncio.create_task(self._stop_idle(slot))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _stop_idle(self, slot: _Slot) -> None:
        try:
            await slot.close()
        finally:
            self._release(slot)

    @property
    def running_processes(self) -> int:
        """Slots with a live process (for tests and metrics)."""
        return sum(1 for slot in self._slots if slot.executor is not None)

    async def _run_on(self, slot: _Slot, seconds: float, fn: Callable[..., T], *args: Any) -> T:
        try:
            future = await slot.submit(fn, *args)
        except BrokenProcessPool:  # the process died while idle: the task never started
            await slot.kill()
            future = await slot.submit(fn, *args)
        try:
            async with asyncio.timeout(seconds):
                return await asyncio.wrap_future(future)
        except TimeoutError:
            await slot.kill()
            raise CpuTimeout(f"gave up after {seconds:g} s") from None
        except asyncio.CancelledError:
            if not future.done():  # nobody waits for it any more: free the slot now
                await asyncio.shield(slot.kill())
            raise
        except BrokenProcessPool:
            await slot.kill()
            raise CpuInterrupted("the worker process stopped") from None
        except MemoryError:
            await slot.kill()  # a process that ran out may hold fragments: start afresh
            limit = f" of {self.memory_mb} MB" if self.memory_mb else ""
            raise CpuMemoryError(f"it needed more memory than the limit{limit}") from None

    async def close(self) -> None:
        await asyncio.gather(*self._stopping, return_exceptions=True)
        for slot in self._slots:
            await slot.close()


def _kill(executor: ProcessPoolExecutor) -> None:
    for process in list(getattr(executor, "_processes", {}).values()):
        process.kill()
    executor.shutdown(wait=True, cancel_futures=True)
