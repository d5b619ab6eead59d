"""A research run's page: its question, status and progress (live), cancel and retry, and,
once it is done, the report with each `[n]` a link to the passage (or web page) it cites.

The progress is server-sent events, as the sources list is (`web/sources.py`): the events
route sends the run's part of the page (`_run.html`, the same fragment the page renders)
whenever it changes. It re-reads the run when its job signals a change in this process, and
at least every `EVENT_POLL_SECONDS` (a worker in another process records its events in the
run's row, which is what the API's events stream follows too). After the run is finished
it sends one `done` event and ends, and the page's script (`static/research.js`) closes the
stream instead of letting the browser reconnect."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette import EventSourceResponse, ServerSentEvent

from learningtool.deps import AppDep, SessionDep
from learningtool.errors import AppError, NotFound
from learningtool.models import Notebook, ResearchRun
from learningtool.research import service as research_service
from learningtool.web.auth import ChangingUser, PageRoute, PageUser
from learningtool.web.reports import Citations, render_report
from learningtool.web.sources import _owned, sentence
from learningtool.web.templating import render, render_part
from learningtool.web.topics import EFFORT_WORDS, RUN_WORDS, run_path

router = APIRouter(route_class=PageRoute, include_in_schema=False)

NotebookId = Annotated[str, Path(max_length=64)]
RunId = Annotated[str, Path(max_length=64)]
EVENT_POLL_SECONDS = 1.0


def describe(event: dict[str, Any]) -> str:
    """A progress event in words, as the run page lists it."""
    step = event.get("step")
    queries = [str(q) for q in event.get("queries") or []]
    if step == "plan":
        return f"Planned {len(queries)} search{'' if len(queries) == 1 else 'es'}: " + "; ".join(
            f"“{q}”" for q in queries
        )
    if step == "search":
        found = int(event.get("found") or 0)
        return f"Searched “{event.get('query', '')}”: {found} found"
    if step == "reflect":
        gaps = [str(g) for g in event.get("gaps") or []]
        words = f"Round {event.get('loop', 1)} read: {event.get('sources_found', 0)} sources so far"
        return words + (
            f"; still to cover: {', '.join(gaps)}" if gaps else "; nothing left to cover"
        )
    if step == "report":
        return str(event.get("message") or "Report written")
    return str(event.get("message") or step or "")


async def _run_context(
    session: AsyncSession, notebook: Notebook, run: ResearchRun
) -> dict[str, Any]:
    job = await research_service.job_of(session, run)
    report = None
    if run.status == research_service.DONE and run.report:
        citations = Citations(notebook.id, run.citations)
        report = render_report(run.report, citations, skip_title=run.question)
    return {
        "notebook": notebook,
        "run": run,
        "finished": run.status in research_service.FINISHED,
        "progress": round((job.progress if job else 0.0) * 100),
        "steps": [describe(event) for event in run.events],
        "report": report,
        "run_words": RUN_WORDS,
        "effort_words": EFFORT_WORDS,
    }


async def _run_page(
    request: Request,
    session: AsyncSession,
    notebook: Notebook,
    run: ResearchRun,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {**await _run_context(session, notebook, run), "error": error}
    return render(request, "research.html", context, status_code=status_code)


@router.get("/notebooks/{notebook_id}/research/{run_id}")
async def run_page(
    request: Request, session: SessionDep, user: PageUser, notebook_id: NotebookId, run_id: RunId
) -> Response:
    notebook = await _owned(session, user, notebook_id)
    run = await research_service.get_run(session, notebook, run_id)
    return await _run_page(request, session, notebook, run)


@router.get("/notebooks/{notebook_id}/research/{run_id}/events")
async def run_events(
    request: Request,
    session: SessionDep,
    app: AppDep,
    user: PageUser,
    notebook_id: NotebookId,
    run_id: RunId,
) -> EventSourceResponse:
    """A `run` event (the run's part of the page) now and after each change, then `done`
    once it is finished. Ownership is checked before the stream opens."""
    notebook = await _owned(session, user, notebook_id)
    await research_service.get_run(session, notebook, run_id)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        last: str | None = None
        while True:
            async with app.sessions() as reader:
                try:
                    run = await research_service.get_run(reader, notebook, run_id)
                except NotFound:  # deleted with its notebook meanwhile
                    yield ServerSentEvent(data="", event="done")
                    return
                html = render_part(request, "_run.html", await _run_context(reader, notebook, run))
            if html != last:
                last = html
                yield ServerSentEvent(data=html, event="run")
            if run.status in research_service.FINISHED:
                yield ServerSentEvent(data=run.status, event="done")
                return
            if await request.is_disconnected():
                return
            await app.signals.wait_for_job(run.job_id or "", EVENT_POLL_SECONDS)

    return EventSourceResponse(stream(), ping=15)


# Cancel stops a queued or running run; retry runs a failed or cancelled one again, from
# its last checkpoint.
ACTIONS: dict[str, Callable[[AsyncSession, ResearchRun], Awaitable[ResearchRun]]] = {
    "cancel": research_service.cancel,
    "retry": research_service.retry,
}


@router.post("/notebooks/{notebook_id}/research/{run_id}/{action}")
async def change(
    request: Request,
    session: SessionDep,
    user: ChangingUser,
    notebook_id: NotebookId,
    run_id: RunId,
    action: Literal["cancel", "retry"],
) -> Response:
    """Cancel or retry, then back to the run's page; when the run has moved on meanwhile
    (finished before the cancel arrived), its page again with the reason in words."""
    notebook = await _owned(session, user, notebook_id)
    run = await research_service.get_run(session, notebook, run_id)
    try:
        await ACTIONS[action](session, run)
    except AppError as error:
        await session.rollback()
        await session.refresh(user)
        notebook = await _owned(session, user, notebook_id)
        run = await research_service.get_run(session, notebook, run_id)
        message = sentence(error.message)
        return await _run_page(
            request, session, notebook, run, error=message, status_code=error.status_code
        )
    return RedirectResponse(run_path(notebook.id, run.id), status_code=303)
