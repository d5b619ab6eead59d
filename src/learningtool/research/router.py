"""HTTP routes of research runs: start one from a free question, list, read, follow its
progress as server-sent events, cancel, retry."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, status
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette import EventSourceResponse, ServerSentEvent

from learningtool.deps import AppDep, SessionDep, rate_limited
from learningtool.jobs.schemas import JobRead
from learningtool.models import ResearchRun
from learningtool.notebook.deps import NotebookDep
from learningtool.research import service
from learningtool.research.schemas import ResearchCreate, RunRead, RunStarted

router = APIRouter(prefix="/notebooks/{notebook_id}/research", tags=["research"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, dependencies=[rate_limited("research")])
async def start_research(
    body: ResearchCreate, notebook: NotebookDep, session: SessionDep, app: AppDep
) -> RunStarted:
    use_web = service.choose_web(body.use_web, app.settings.web_search_provider)
    run, created = await service.start(
        session, notebook, body.question, effort=body.effort, use_web=use_web
    )
    return await started(session, run, created)


async def started(session: AsyncSession, run: ResearchRun, created: bool) -> RunStarted:
    job = await service.job_of(session, run)
    return RunStarted(
        run=RunRead.model_validate(run), job=JobRead.of(job) if job else None, created=created
    )


@router.get("")
async def list_runs(
    notebook: NotebookDep, session: SessionDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[RunRead]:
    return [RunRead.model_validate(r) for r in await service.list_runs(session, notebook, limit)]


@router.get("/{run_id}")
async def get_run(run_id: str, notebook: NotebookDep, session: SessionDep) -> RunRead:
    return RunRead.model_validate(await service.get_run(session, notebook, run_id))


@router.post("/{run_id}/cancel")
async def cancel_run(run_id: str, notebook: NotebookDep, session: SessionDep) -> RunRead:
    run = await service.get_run(session, notebook, run_id)
    return RunRead.model_validate(await service.cancel(session, run))


@router.post("/{run_id}/retry")
async def retry_run(run_id: str, notebook: NotebookDep, session: SessionDep) -> RunRead:
    run = await service.get_run(session, notebook, run_id)
    return RunRead.model_validate(await service.retry(session, run))


@router.get("/{run_id}/events", response_class=EventSourceResponse)
async def run_events(
    run_id: str,
    notebook: NotebookDep,
    session: SessionDep,
    app: AppDep,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """`progress` events (step, loop, queries, query and found, gaps, sources found) as the
    run records them, numbered so a reconnecting client (`Last-Event-ID`) gets only the rest;
    then one `done` event with the run's final state (done, failed or cancelled)."""
    await service.get_run(session, notebook, run_id)  # 404 before the stream opens
    seen = int(last_event_id) + 1 if last_event_id and last_event_id.isdigit() else 0

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async for index, event in service.follow(app, run_id, seen):
            yield ServerSentEvent(event="progress", data=json.dumps(event), id=str(index))
        async with app.sessions() as reader:
            final = RunRead.model_validate(await service.get_run(reader, notebook, run_id))
        yield ServerSentEvent(
            event="done", data=final.model_dump_json(exclude={"report", "events"})
        )

    return EventSourceResponse(stream(), ping=15)
