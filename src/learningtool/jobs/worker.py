"""The job worker: claims jobs under a lease, runs their handlers, records the outcome.

Exactly-once in effect: a handler's database writes commit in the same transaction that
marks its job succeeded, and that update only matches while this worker still holds the
lease (same worker id, same attempt, still running). A worker that dies mid-job leaves
nothing committed; once the lease expires another worker claims the job and runs it again.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
import uuid
from collections import deque
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool import spans
from learningtool.cpu import CpuInterrupted, CpuMemoryError, CpuTimeout
from learningtool.errors import AppError
from learningtool.jobs.queue import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED
from learningtool.jobs.registry import JobContext, JobError, get_spec, registered_kinds
from learningtool.metrics import JOBS_FINISHED
from learningtool.models import Job, utcnow

if TYPE_CHECKING:
    from learningtool.context import AppContext

log = structlog.get_logger(__name__)


class LeaseLost(Exception):
    """This worker no longer holds the job: it was cancelled, or its lease expired."""


class Worker:
    def __init__(
        self,
        app: AppContext,
        *,
        concurrency: int | None = None,
        kinds: list[str] | None = None,
        worker_id: str | None = None,
    ) -> None:
        settings = app.settings
        self.app = app
        self.concurrency = concurrency or settings.worker_concurrency
        self.kinds = kinds if kinds is not None else registered_kinds()
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = timedelta(seconds=settings.job_lease_seconds)
        self.claim_latencies: deque[float] = deque(maxlen=100_000)
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._is_postgres = app.engine.dialect.name == "postgresql"

    # -- loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Claim and run jobs, up to `concurrency` at once, until `stop()`. Each claim takes
        as many jobs as there are free slots, in one statement."""
        log.info("worker_started", worker_id=self.worker_id, kinds=self.kinds)
        slot_freed = asyncio.Event()
        while not self._stopping.is_set():
            free = self.concurrency - len(self._tasks)
            if free <= 0:
                slot_freed.clear()
                await slot_freed.wait()
                continue
            jobs = await self._claim_or_none(free)
            if not jobs:
                await self.app.signals.wait_for_work(self.app.settings.job_poll_seconds)
                continue
            for job in jobs:
                task = asyncio.create_task(self.execute(job), name=f"job:{job.kind}:{job.id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                task.add_done_callback(lambda _task: slot_freed.set())

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop claiming; give running jobs `grace_seconds`, then hand them back to the queue."""
        self._stopping.set()
        self.app.signals.work_available()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def drain(self) -> int:
        """Run claimable jobs one by one until none is left; returns how many ran (tests)."""
        ran = 0
        while (job := await self.claim()) is not None:
            await self.execute(job)
            ran += 1
        return ran

    # -- claiming --------------------------------------------------------------------------

    async def _claim_or_none(self, limit: int) -> list[Job]:
        try:
            return await self.claim_many(limit)
        except Exception:  # the database may be briefly unreachable: keep the worker alive
            log.exception("job_claim_failed", worker_id=self.worker_id)
            await asyncio.sleep(self.app.settings.job_poll_seconds)
            return []

    async def claim(self) -> Job | None:
        jobs = await self.claim_many(1)
        return jobs[0] if jobs else None

    async def claim_many(self, limit: int) -> list[Job]:
        """Take up to `limit` of the oldest runnable jobs: queued and due, or running with an
        expired lease. While running, `run_at` holds the lease's expiry, so one index serves
        both cases."""
        if not self.kinds:
            return []
        started = time.perf_counter()
        now = utcnow()
        candidates = (
            select(Job.id)
            .where(Job.state.in_((QUEUED, RUNNING)), Job.run_at <= now, Job.kind.in_(self.kinds))
            .order_by(Job.run_at)
            .limit(limit)
        )
        if self._is_postgres:
            candidates = candidates.with_for_update(skip_locked=True)
        statement = (
            update(Job)
            .where(Job.id.in_(candidates.scalar_subquery()))
            .values(
                state=RUNNING,
                attempts=Job.attempts + 1,
                worker_id=self.worker_id,
                run_at=now + self.lease,
                started_at=func.coalesce(Job.started_at, now),
                updated_at=now,
                message="running",
            )
            .returning(Job)
            .execution_options(synchronize_session=False)
        )
        async with self.app.sessions() as session:
            jobs = list((await session.scalars(statement)).all())
            await session.commit()
        self.claim_latencies.append(time.perf_counter() - started)
        for job in jobs:
            self.app.signals.job_changed(job.id)
        return sorted(jobs, key=lambda job: job.run_at)

    # -- running ---------------------------------------------------------------------------

    async def execute(self, job: Job) -> None:
        """Run one claimed job to an outcome: succeeded, queued again (retry), or failed."""
        spec = get_spec(job.kind)
        if spec is None:
            await self._fail(job, f"no handler for job kind {job.kind!r}", retryable=False)
            return
        if job.attempts > job.max_attempts:
            await self._fail(
                job,
                f"gave up after {job.max_attempts} attempts; last error: "
                f"{job.error or 'worker lost'}",
                retryable=False,
            )
            return
        lease_lost = asyncio.Event()
        this_task = asyncio.current_task()
        heartbeat = asyncio.create_task(self._heartbeat(job, lease_lost, this_task))
        log.info("job_started", job_id=job.id, kind=job.kind, attempt=job.attempts)
        try:
            async with self.app.sessions() as session:
                context = JobContext(
                    app=self.app,
                    job_id=job.id,
                    kind=job.kind,
                    payload=dict(job.payload),
                    attempt=job.attempts,
                    session=session,
                    progress=lambda fraction, message: self._progress(job, fraction, message),
                )
                async with asyncio.timeout(spec.timeout_seconds):
                    result = await spec.handler(context)
                await self._complete(session, job, result)
            JOBS_FINISHED.labels(job.kind, SUCCEEDED).inc()
            log.info("job_succeeded", job_id=job.id, kind=job.kind)
        except asyncio.CancelledError:
            if not lease_lost.is_set():
                await asyncio.shield(self._release(job))
                raise
            if this_task is not None:
                this_task.uncancel()
            log.warning("job_lease_lost", job_id=job.id, kind=job.kind)
        except LeaseLost:
            log.warning("job_lease_lost", job_id=job.id, kind=job.kind)
        except TimeoutError:
            await self._fail(job, f"timed out after {spec.timeout_seconds:g} s", retryable=True)
        except JobError as error:
            await self._fail(job, str(error), retryable=error.retryable)
        except CpuInterrupted:  # a pool process died (shutdown, killed from outside): no bug
            await self._fail(job, "a worker process stopped mid-task", retryable=True)
        except CpuMemoryError as error:
            await self._fail(job, f"a processing step stopped: {error}", retryable=False)
        except CpuTimeout:
            await self._fail(job, "a processing step took longer than its limit", retryable=True)
        except AppError as error:  # its message is written for users; it may say if retryable
            await self._fail(job, error.message, retryable=getattr(error, "retryable", True))
        except Exception as error:
            log.exception("job_crashed", job_id=job.id, kind=job.kind)
            await self._fail(job, f"internal error ({type(error).__name__})", retryable=True)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            self.app.signals.job_changed(job.id)

    def _held(self, job: Job) -> Any:
        """The condition under which this worker still owns `job`."""
        return (
            (Job.id == job.id)
            & (Job.state == RUNNING)
            & (Job.worker_id == self.worker_id)
            & (Job.attempts == job.attempts)
        )

    async def _fenced_update(self, session: AsyncSession, job: Job, **values: Any) -> bool:
        result = await session.execute(
            update(Job)
            .where(self._held(job))
            .values(updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    @spans.timed("job.complete")
    async def _complete(
        self, session: AsyncSession, job: Job, result: dict[str, Any] | None
    ) -> None:
        done = await self._fenced_update(
            session,
            job,
            state=SUCCEEDED,
            progress=1.0,
            result=result,
            error=None,
            message="done",
            finished_at=utcnow(),
        )
        if not done:
            await session.rollback()
            raise LeaseLost(job.id)
        await session.commit()

    async def _fail(self, job: Job, reason: str, *, retryable: bool) -> None:
        now = utcnow()
        if retryable and job.attempts < job.max_attempts:
            base = self.app.settings.job_backoff_seconds
            delay = base * 2 ** (job.attempts - 1) * (1 + random.random() / 4)
            values: dict[str, Any] = {
                "state": QUEUED,
                "run_at": now + timedelta(seconds=delay),
                "error": reason,
                "message": f"attempt {job.attempts} failed; retrying in {delay:.1f} s",
            }
            outcome = "retry"
        else:
            values = {"state": FAILED, "error": reason, "finished_at": now, "message": "failed"}
            outcome = FAILED
        spec = get_spec(job.kind)
        async with self.app.sessions() as session:
            if await self._fenced_update(session, job, **values):
                if outcome == FAILED and spec is not None and spec.on_failure is not None:
                    await spec.on_failure(session, dict(job.payload), reason)
                await session.commit()
                JOBS_FINISHED.labels(job.kind, outcome).inc()
        log.warning("job_failed", job_id=job.id, kind=job.kind, reason=reason, outcome=outcome)

    async def _release(self, job: Job) -> None:
        """Hand a job back at shutdown so another worker can start it without waiting for
        the lease to expire; the interrupted attempt does not count."""
        async with self.app.sessions() as session:
            if await self._fenced_update(
                session,
                job,
                state=QUEUED,
                run_at=utcnow(),
                attempts=job.attempts - 1,
                message="worker stopped; queued again",
            ):
                await session.commit()

    @spans.timed("job.progress")
    async def _progress(self, job: Job, fraction: float, message: str) -> None:
        async with self.app.sessions() as session:
            held = await self._fenced_update(
                session, job, progress=max(0.0, min(1.0, fraction)), message=message[:500]
            )
            await session.commit()
        if not held:
            raise LeaseLost(job.id)
        self.app.signals.job_changed(job.id)

    async def _heartbeat(
        self, job: Job, lease_lost: asyncio.Event, runner: asyncio.Task[Any] | None
    ) -> None:
        interval = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.app.sessions() as session:
                    held = await self._fenced_update(session, job, run_at=utcnow() + self.lease)
                    await session.commit()
            except Exception:
                log.exception("job_heartbeat_failed", job_id=job.id)
                continue
            if not held:
                lease_lost.set()
                if runner is not None:
                    runner.cancel()
                return


__all__ = ["CANCELLED", "LeaseLost", "Worker"]
