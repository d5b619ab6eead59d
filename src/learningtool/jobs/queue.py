"""The write side of the job table that callers use: enqueue, cancel, retry, read."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.errors import Conflict, NotFound
from learningtool.jobs.registry import get_spec
from learningtool.jobs.signals import Signals
from learningtool.models import Job, Notebook, utcnow

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
DEFAULT_MAX_ATTEMPTS = 5


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    user_id: str | None = None,
    notebook_id: str | None = None,
    dedupe_key: str | None = None,
    run_at: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Job:
    """Add a job to the caller's transaction: it exists only if that transaction commits.

    With `dedupe_key`, an existing job with that key is returned instead of a new one, so a
    repeated request enqueues its work once.
    """
    if dedupe_key is not None:
        existing = await session.scalar(select(Job).where(Job.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    job = Job(
        kind=kind,
        payload=payload or {},
        user_id=user_id,
        notebook_id=notebook_id,
        dedupe_key=dedupe_key,
        run_at=run_at or utcnow(),
        max_attempts=max_attempts,
    )
    session.add(job)
    await session.flush()
    _wake_worker_after_commit(session)
    return job


class HasJob(Protocol):
    """A row whose work is a job (a source's ingestion, a research run)."""

    job_id: str | None


async def enqueue_for(
    session: AsyncSession, row: HasJob, notebook: Notebook, kind: str, payload: dict[str, Any]
) -> Job:
    """Queue the job that does a notebook row's work, on the notebook owner's account, and
    link the row to it (`row.job_id`), in the caller's transaction like `enqueue`."""
    job = await enqueue(session, kind, payload, user_id=notebook.owner_id, notebook_id=notebook.id)
    row.job_id = job.id
    await session.flush()
    return job


def _wake_worker_after_commit(session: AsyncSession) -> None:
    signals = session.info.get("signals")
    if isinstance(signals, Signals) and not session.info.get("wake_registered"):
        session.info["wake_registered"] = True

        def wake(_session: object) -> None:
            session.info.pop("wake_registered", None)
            signals.work_available()

        event.listen(session.sync_session, "after_commit", wake, once=True)


async def get_job(session: AsyncSession, job_id: str, *, user_id: str | None) -> Job:
    """The job, if `user_id` owns it (None: any job, for the CLI). Another user's job is 404."""
    job = await session.get(Job, job_id, populate_existing=True)
    if job is None or (user_id is not None and job.user_id != user_id):
        raise NotFound("job not found")
    return job


async def cancel(session: AsyncSession, job: Job) -> Job:
    """Cancel a queued or running job. A running handler notices at its next heartbeat and its
    effects are discarded, since completion requires the job to still be running."""
    if job.state in TERMINAL:
        raise Conflict(f"job is already {job.state}", details={"state": job.state})
    now = utcnow()
    await session.execute(
        update(Job)
        .where(Job.id == job.id, Job.state.in_((QUEUED, RUNNING)))
        .values(state=CANCELLED, finished_at=now, updated_at=now, message="cancelled")
    )
    await session.refresh(job)
    spec = get_spec(job.kind)
    if spec is not None and spec.on_failure is not None:
        await spec.on_failure(session, dict(job.payload), "cancelled")
    _notify_after_commit(session, job.id)
    return job


async def retry(session: AsyncSession, job: Job) -> Job:
    """Queue a failed or cancelled job again, with a fresh budget of attempts."""
    if job.state not in (FAILED, CANCELLED):
        raise Conflict(
            f"only failed or cancelled jobs can be retried; this one is {job.state}",
            details={"state": job.state},
        )
    now = utcnow()
    job.state, job.attempts, job.run_at, job.finished_at = QUEUED, 0, now, None
    job.error, job.progress, job.message, job.worker_id = None, 0.0, "", None
    await session.flush()
    _wake_worker_after_commit(session)
    _notify_after_commit(session, job.id)
    return job


def _notify_after_commit(session: AsyncSession, job_id: str) -> None:
    signals = session.info.get("signals")
    if isinstance(signals, Signals):
        event.listen(
            session.sync_session,
            "after_commit",
            lambda _s: signals.job_changed(job_id),
            once=True,
        )


async def counts_by_state(session: AsyncSession) -> dict[tuple[str, str], int]:
    rows = await session.execute(
        select(Job.kind, Job.state, func.count()).group_by(Job.kind, Job.state)
    )
    return {(kind, state): count for kind, state, count in rows.all()}
