"""Wake-ups between the parts of one process that wait on jobs."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict


class Signals:
    """In-process wake-ups: a worker waiting for new jobs, an event stream waiting for a job to
    change. Only an optimisation over polling, which stays the source of truth across processes.
    Bound to the event loop that created it."""

    def __init__(self) -> None:
        self._work = asyncio.Event()
        self._jobs: dict[str, set[asyncio.Event]] = defaultdict(set)

    def work_available(self) -> None:
        self._work.set()

    async def wait_for_work(self, seconds: float) -> None:
        """Return when work is announced, or after `seconds` (the polling fallback)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._work.wait(), seconds)
        self._work.clear()

    def job_changed(self, job_id: str) -> None:
        for waiter in self._jobs.get(job_id, ()):
            waiter.set()

    async def wait_for_job(self, job_id: str, seconds: float) -> None:
        """Return when `job_id` changes in this process, or after `seconds`."""
        waiter = asyncio.Event()
        self._jobs[job_id].add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), seconds)
        finally:
            self._jobs[job_id].discard(waiter)
            if not self._jobs[job_id]:
                del self._jobs[job_id]
