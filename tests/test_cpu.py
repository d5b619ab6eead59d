"""The CPU pool: a task's time cap counts while it runs, an overrun or a cancellation stops
only that task, and a process that needs more memory than its limit fails alone.

Repro from the outside audit: four scanned PDFs at once under a 60 s cap: one failed after
16 s of real work (its clock started while it queued) and another was interrupted (a timeout
killed every process of the pool)."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest

from learningtool.cpu import NICENESS, CpuMemoryError, CpuPool, CpuTimeout


def pid() -> int:
    return os.getpid()


def sleep_then(seconds: float, value: str) -> str:
    time.sleep(seconds)
    return value


def allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 2**20))


async def _warm(pool: CpuPool) -> set[int]:
    """Start every process (a spawn takes a second or so) so that timings measure tasks."""
    return set(await asyncio.gather(*(pool.run(60, pid) for _ in range(pool.workers))))


async def test_waiting_for_a_free_process_does_not_count_against_the_cap() -> None:
    pool = CpuPool(1)
    try:
        await _warm(pool)
        first = asyncio.create_task(pool.run(10, sleep_then, 1.0, "first"))
        await asyncio.sleep(0.05)
        second = pool.run(0.8, sleep_then, 0.05, "second")  # waits ~1 s, runs 0.05 s
        assert await asyncio.gather(first, second) == ["first", "second"]
    finally:
        await pool.close()


async def test_an_overrun_stops_only_its_own_task() -> None:
    pool = CpuPool(2)
    try:
        before = await _warm(pool)
        slow = pool.run(0.5, sleep_then, 30, "never")
        fine = pool.run(10, sleep_then, 1.5, "fine")
        outcomes = await asyncio.gather(slow, fine, return_exceptions=True)
        assert isinstance(outcomes[0], CpuTimeout) and outcomes[1] == "fine"
        after = await _warm(pool)
        assert len(before & after) == 1  # one process replaced, the other untouched
    finally:
        await pool.close()


async def test_a_cancelled_task_frees_its_process_at_once() -> None:
    pool = CpuPool(1)
    try:
        await _warm(pool)
        stuck = asyncio.create_task(pool.run(60, sleep_then, 30, "never"))
        await asyncio.sleep(0.3)
        stuck.cancel()
        await asyncio.gather(stuck, return_exceptions=True)
        started = time.monotonic()
        assert await pool.run(30, sleep_then, 0, "next") == "next"
        assert time.monotonic() - started < 15  # a fresh process, not the 30 s sleeper
    finally:
        await pool.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the limit is set on Linux")
async def test_a_task_over_the_memory_limit_fails_alone() -> None:
    pool = CpuPool(1, memory_mb=768)
    try:
        with pytest.raises(CpuMemoryError, match="768 MB"):
            await pool.run(60, allocate, 1024)
        assert await pool.run(60, allocate, 64) == 64 * 2**20
    finally:
        await pool.close()


def niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no process priorities here")
async def test_pool_processes_yield_the_cores_to_the_server() -> None:
    """Extraction and embedding run at a lower priority than the process that answers
    requests, so that a busy pool does not show up as event-loop lag."""
    pool = CpuPool(1)
    try:
        ours = niceness()
        assert await pool.run(60, niceness) == min(19, ours + NICENESS)
    finally:
        await pool.close()


async def test_an_urgent_task_goes_before_the_waiting_bulk_tasks() -> None:
    """A question's embedding waits for the running batch only, not for an ingestion's
    queue of batches."""
    pool = CpuPool(1)
    finished: list[str] = []

    async def run(name: str, seconds: float, *, urgent: bool = False) -> None:
        finished.append(await pool.run(10, sleep_then, seconds, name, urgent=urgent))

    try:
        await _warm(pool)
        running = asyncio.create_task(run("running", 0.5))
        await asyncio.sleep(0.1)
        bulk = [asyncio.create_task(run(f"bulk{i}", 0.05)) for i in range(3)]
        await asyncio.sleep(0.05)
        cancelled = asyncio.create_task(run("cancelled", 0.05, urgent=True))
        urgent = asyncio.create_task(run("urgent", 0.05, urgent=True))
        await asyncio.sleep(0.05)
        cancelled.cancel()  # a waiter that gives up is skipped, its turn not lost
        await asyncio.gather(running, urgent, *bulk)
        assert finished == ["running", "urgent", "bulk0", "bulk1", "bulk2"]
    finally:
        await pool.close()


async def test_an_idle_process_stops_and_the_next_task_starts_one() -> None:
    """The extraction processes give back their models' memory when nobody uploads."""
    pool = CpuPool(1, idle_seconds=0.6)
    try:
        first = await pool.run(60, pid)
        for _ in range(4):  # in use more often than the idle time: the same process
            await asyncio.sleep(0.3)
            assert await pool.run(60, pid) == first
        assert pool.running_processes == 1
        await asyncio.sleep(1.5)
        assert pool.running_processes == 0
        assert await pool.run(60, pid) != first
    finally:
        await pool.close()
