"""HTTP routes of jobs: status, a server-sent event stream of changes, retry and cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from learningtool.deps import AppDep, CurrentUser, SessionDep
from learningtool.jobs import queue
from learningtool.jobs.schemas import JobRead

router = APIRouter(prefix="/jobs", tags=["jobs"])

EVENT_POLL_SECONDS = 1.0  # the fallback when the job runs in another process


@router.get("/{job_id}")
async def get_job(job_id: str, session: SessionDep, user: CurrentUser) -> JobRead:
    return JobRead.of(await queue.get_job(session, job_id, user_id=user.id))


@router.post("/{job_id}/cancel")
async def cancel_job(job_id: str, session: SessionDep, user: CurrentUser) -> JobRead:
    job = await queue.get_job(session, job_id, user_id=user.id)
    return JobRead.of(await queue.cancel(session, job))


@router.post("/{job_id}/retry")
async def retry_job(job_id: str, session: SessionDep, user: CurrentUser) -> JobRead:
    job = await queue.get_job(session, job_id, user_id=user.id)
    return JobRead.of(await queue.retry(session, job))


@router.get("/{job_id}/events", response_class=EventSourceResponse)
async def job_events(
    job_id: str, request: Request, app: AppDep, session: SessionDep, user: CurrentUser
) -> EventSourceResponse:
    """One `job` event per observed change (state, progress, message), ending with the
    terminal state. Ownership is checked before the stream opens."""
    await queue.get_job(session, job_id, user_id=user.id)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        last: str | None = None
        while True:
            async with app.sessions() as reader:
                job = JobRead.of(await queue.get_job(reader, job_id, user_id=user.id))
            snapshot = job.model_dump_json()
            if snapshot != last:
                last = snapshot
                yield ServerSentEvent(
                    data=snapshot, event="job", id=str(job.updated_at.timestamp())
                )
            if job.state in queue.TERMINAL or await request.is_disconnected():
                return
            await app.signals.wait_for_job(job_id, EVENT_POLL_SECONDS)

    return EventSourceResponse(stream(), ping=15)
