"""A notebook's Topics view: the research topics suggested from its sources (each with why,
and the passages that prompted it), accept (which starts the topic's research run and opens
its page) and reject; research on the learner's own question; the suggestion preferences;
and the notebook's research runs with their status.

Suggestions are made by a job after a source is ready, and runs go on in the worker, so the
part of the page that lists them is polled (htmx, every `POLL_SECONDS`) while the notebook
has work under way, and not at all once everything is done. Everything goes through the
topic and research services, as the API's routes do."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.deps import AppDep, SessionDep
from learningtool.errors import AppError, InvalidInput
from learningtool.jobs.queue import TERMINAL
from learningtool.models import Job, Notebook
from learningtool.research import service as research_service
from learningtool.research.agent.state import EFFORTS
from learningtool.topics import service as topic_service
from learningtool.web.auth import ChangingUser, PageRoute, PageUser
from learningtool.web.sources import _allowance, _owned, sentence
from learningtool.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

NotebookId = Annotated[str, Path(max_length=64)]
TopicId = Annotated[str, Path(max_length=64)]
POLL_SECONDS = 2
SHOWN_TOPICS = 100
SHOWN_RUNS = 50
EFFORT_WORDS = {"low": "Quick", "medium": "Normal", "high": "Thorough"}
RUN_WORDS = {
    "queued": "Waiting to start",
    "researching": "Researching",
    "done": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


def run_path(notebook_id: str, run_id: str) -> str:
    return f"/notebooks/{notebook_id}/research/{run_id}"


async def _busy(session: AsyncSession, notebook: Notebook) -> bool:
    """Whether the notebook has work under way (a source being read, suggestions being made,
    a run going on): the live part of the page is polled only then."""
    waiting = await session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.notebook_id == notebook.id, Job.state.not_in(TERMINAL))
    )
    return bool(waiting)


async def _live_context(session: AsyncSession, notebook: Notebook) -> dict[str, Any]:
    prefs = await topic_service.preferences(session, notebook.id)
    return {
        "notebook": notebook,
        "topics": await topic_service.list_topics(
            session, notebook, topic_service.PENDING, SHOWN_TOPICS
        ),
        "runs": await research_service.list_runs(session, notebook, SHOWN_RUNS),
        "busy": await _busy(session, notebook),
        "suggesting": prefs.enabled,
        "run_words": RUN_WORDS,
        "poll_seconds": POLL_SECONDS,
    }


async def _topics_page(
    request: Request,
    session: AsyncSession,
    app: AppDep,
    notebook: Notebook,
    *,
    error: str | None = None,
    question: str = "",
    status_code: int = 200,
) -> Response:
    prefs = await topic_service.preferences(session, notebook.id)
    context = {
        **await _live_context(session, notebook),
        "rejected": await topic_service.list_topics(
            session, notebook, topic_service.REJECTED, SHOWN_TOPICS
        ),
        "prefs": prefs,
        "error": error,
        "question": question,
        "efforts": [(name, EFFORT_WORDS.get(name, name)) for name in EFFORTS],
        "web_configured": app.settings.web_search_provider != "none",
    }
    return render(request, "topics.html", context, status_code=status_code)


@router.get("/notebooks/{notebook_id}/topics")
async def topics_page(
    request: Request, session: SessionDep, app: AppDep, user: PageUser, notebook_id: NotebookId
) -> Response:
    notebook = await _owned(session, user, notebook_id)
    return await _topics_page(request, session, app, notebook)


@router.get("/notebooks/{notebook_id}/topics/live")
async def topics_live(
    request: Request, session: SessionDep, user: PageUser, notebook_id: NotebookId
) -> Response:
    """The suggestions and runs, polled by the page (htmx) while work is under way."""
    notebook = await _owned(session, user, notebook_id)
    return render(request, "_topics_live.html", await _live_context(session, notebook))


@router.post("/notebooks/{notebook_id}/topics/{topic_id}/accept")
async def accept(
    session: SessionDep, app: AppDep, user: ChangingUser, notebook_id: NotebookId, topic_id: TopicId
) -> Response:
    """Start the topic's research (a second accept opens the same run; a failed one is
    retried) and open the run's page, where its progress shows."""
    notebook = await _owned(session, user, notebook_id)
    topic = await topic_service.get_topic(session, notebook, topic_id)
    use_web = research_service.choose_web(None, app.settings.web_search_provider)
    run, _ = await topic_service.accept(session, notebook, topic, effort="medium", use_web=use_web)
    return RedirectResponse(run_path(notebook.id, run.id), status_code=303)


@router.post("/notebooks/{notebook_id}/topics/{topic_id}/reject")
async def reject(
    request: Request,
    session: SessionDep,
    app: AppDep,
    user: ChangingUser,
    notebook_id: NotebookId,
    topic_id: TopicId,
) -> Response:
    notebook = await _owned(session, user, notebook_id)
    topic = await topic_service.get_topic(session, notebook, topic_id)
    try:
        await topic_service.reject(session, topic)
    except AppError as error:  # already accepted (in another tab): say so on the page
        return await _topics_page(
            request, session, app, notebook, error=sentence(error.message), status_code=409
        )
    return RedirectResponse(f"/notebooks/{notebook.id}/topics", status_code=303)


@router.post("/notebooks/{notebook_id}/research")
async def start_research(
    request: Request,
    session: SessionDep,
    app: AppDep,
    user: ChangingUser,
    notebook_id: NotebookId,
    question: Annotated[str, Form(max_length=research_service.MAX_QUESTION_CHARS)],
    effort: Annotated[str, Form(max_length=16)] = "medium",
    use_web: Annotated[bool, Form()] = False,
) -> Response:
    """Research the learner's own question; its page shows the progress."""
    notebook = await _owned(session, user, notebook_id)
    try:
        with _allowance(request, user.id, "research"):
            web = research_service.choose_web(use_web, app.settings.web_search_provider)
            run, _ = await research_service.start(
                session, notebook, question, effort=effort, use_web=web
            )
    except AppError as error:
        return await _topics_page(
            request,
            session,
            app,
            notebook,
            error=sentence(error.message),
            question=question,
            status_code=error.status_code,
        )
    return RedirectResponse(run_path(notebook.id, run.id), status_code=303)


@router.post("/notebooks/{notebook_id}/topics/preferences")
async def update_preferences(
    request: Request,
    session: SessionDep,
    app: AppDep,
    user: ChangingUser,
    notebook_id: NotebookId,
    count: Annotated[int, Form(ge=1, le=5)],
    min_score: Annotated[float, Form(ge=0, le=1)],
    enabled: Annotated[bool, Form()] = False,
    domains: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """The same preferences as the API's `/topic-preferences`; domains one a line (or
    separated by commas or blanks)."""
    notebook = await _owned(session, user, notebook_id)
    listed = domains.replace(",", " ").split()
    changes = {"enabled": enabled, "count": count, "min_score": min_score}
    try:
        if len(listed) > 20:
            raise InvalidInput("give at most 20 preferred domains")
        changes["preferred_domains"] = topic_service.check_preferences(
            {"preferred_domains": listed}
        )["preferred_domains"]
        await topic_service.update_preferences(session, notebook, changes)
    except AppError as error:
        await session.rollback()
        await session.refresh(user)
        notebook = await _owned(session, user, notebook_id)
        return await _topics_page(
            request, session, app, notebook, error=sentence(error.message), status_code=422
        )
    return RedirectResponse(f"/notebooks/{notebook.id}/topics#preferences", status_code=303)
