"""Research runs: start one (from a free question or an accepted topic), read, cancel, retry,
and bring a finished report back into the notebook.

A run is a row plus a `research.run` job, inserted in the caller's transaction. A topic has at
most one run (unique `topic_id`): a second accept, even a concurrent one, gets the first run.
When the graph finishes, the job's own transaction stores the report, puts it in the feed and
adds it to the notebook as a source of kind `research` (provenance: the run; tag `research`,
so an exclusion by that tag leaves generated reports out) that is chunked, indexed and turned
into cards like any other source.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.errors import Conflict, InvalidInput, NotFound
from learningtool.feed import service as feed
from learningtool.jobs import queue
from learningtool.models import Job, Notebook, ResearchRun, Source, Topic, utcnow
from learningtool.research.agent.offline import HOW_HEADING, NO_MODEL_NOTE
from learningtool.research.agent.report import SOURCES_TITLE
from learningtool.research.agent.state import EFFORTS
from learningtool.source import service as source_service

if TYPE_CHECKING:  # assembled above the domains; passed in at run time
    from learningtool.context import AppContext

RESEARCH_JOB = "research.run"
QUEUED, RESEARCHING, DONE, FAILED, CANCELLED = (
    "queued",
    "researching",
    "done",
    "failed",
    "cancelled",
)
FINISHED = frozenset({DONE, FAILED, CANCELLED})
REPORT_TAG = "research"
MAX_QUESTION_CHARS = 2000
EVENT_POLL_SECONDS = 1.0  # when the run goes on in another process


def _check(question: str, effort: str) -> str:
    question = " ".join(question.split())
    if not question:
        raise InvalidInput("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidInput(f"the question is longer than {MAX_QUESTION_CHARS} characters")
    if effort not in EFFORTS:
        raise InvalidInput(f"effort must be one of {', '.join(EFFORTS)}")
    return question


def choose_web(requested: bool | None, provider: str) -> bool:
    """Whether a run searches the web: as asked, or (not asked) whenever a provider is set.
    Asking for the web where none is configured is a 422 that says what to do, instead of a
    run that quietly searched the notebook alone."""
    configured = provider != "none"
    if requested and not configured:
        raise InvalidInput(
            "web search is not configured on this server (WEB_SEARCH_PROVIDER is none): "
            "send use_web false to research the notebook alone, or set a provider "
            "(README, Configuration)"
        )
    return configured if requested is None else requested


async def start(
    session: AsyncSession,
    notebook: Notebook,
    question: str,
    *,
    effort: str = "medium",
    use_web: bool,
    topic: Topic | None = None,
) -> tuple[ResearchRun, bool]:
    """A new run and its job, or (for a topic) the run it already has: (run, created)."""
    question = _check(question, effort)
    run = ResearchRun(
        notebook_id=notebook.id,
        user_id=notebook.owner_id,
        topic_id=topic.id if topic else None,
        question=question,
        effort=effort,
        use_web=use_web,
    )
    try:
        async with session.begin_nested():
            session.add(run)
            await session.flush()
    except IntegrityError:
        if topic is None:
            raise
        existing = await session.scalar(select(ResearchRun).where(ResearchRun.topic_id == topic.id))
        if existing is None:
            raise
        return existing, False
    await queue.enqueue_for(session, run, notebook, RESEARCH_JOB, {"run_id": run.id})
    return run, True


async def get_run(session: AsyncSession, notebook: Notebook, run_id: str) -> ResearchRun:
    run = await session.get(ResearchRun, run_id, populate_existing=True)
    if run is None or run.notebook_id != notebook.id:
        raise NotFound("research run not found")
    return run


async def list_runs(
    session: AsyncSession, notebook: Notebook, limit: int = 50
) -> list[ResearchRun]:
    rows = await session.scalars(
        select(ResearchRun)
        .where(ResearchRun.notebook_id == notebook.id)
        .order_by(ResearchRun.created_at.desc(), ResearchRun.id.desc())
        .limit(limit)
    )
    return list(rows)


async def follow(
    app: AppContext, run_id: str, start: int = 0
) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """The run's progress events from number `start` on, as they are stored (by a worker in
    any process), until the run is finished or gone; the caller reads its final state."""
    sent = start
    while True:
        async with app.sessions() as session:
            run = await session.get(ResearchRun, run_id, populate_existing=True)
        if run is None:
            return
        for index, event in enumerate(run.events[sent:], start=sent):
            yield index, event
        sent = max(sent, len(run.events))
        if run.status in FINISHED:
            return
        await app.signals.wait_for_job(run.job_id or "", EVENT_POLL_SECONDS)


async def job_of(session: AsyncSession, run: ResearchRun) -> Job | None:
    return await session.get(Job, run.job_id) if run.job_id else None


async def cancel(session: AsyncSession, run: ResearchRun) -> ResearchRun:
    """Stop a queued or running run (its worker is told through the job's lease)."""
    if run.status in FINISHED:
        raise Conflict(f"the run is already {run.status}")
    job = await job_of(session, run)
    if job is not None and job.state not in queue.TERMINAL:
        await queue.cancel(session, job)
    await set_status(session, run, CANCELLED, error="cancelled")
    return run


async def retry(session: AsyncSession, run: ResearchRun) -> ResearchRun:
    """Run a failed or cancelled run again; it continues from its last checkpoint."""
    if run.status not in (FAILED, CANCELLED):
        raise Conflict(f"only a failed or cancelled run can be retried (it is {run.status})")
    job = await job_of(session, run)
    if job is None:
        raise Conflict("the run has no job to retry")
    await queue.retry(session, job)
    await set_status(session, run, QUEUED, error=None)
    return run


async def set_status(
    session: AsyncSession, run: ResearchRun, status: str, *, error: str | None = None
) -> None:
    """The run's status and its topic's (researching, done, failed; cancelled -> failed)."""
    run.status = status
    run.error = error
    if status in FINISHED:
        run.finished_at = utcnow()
    if run.topic_id is not None:
        topic_status = {QUEUED: "accepted", CANCELLED: "failed"}.get(status, status)
        await session.execute(
            update(Topic)
            .where(Topic.id == run.topic_id)
            .values(status=topic_status, updated_at=utcnow())
        )
    await session.flush()


async def finish(
    session: AsyncSession, app: AppContext, run: ResearchRun, result: dict[str, Any]
) -> Source | None:
    """Store the report, add it to the feed and to the notebook as a source (with its job)."""
    run.report = str(result.get("report") or "")
    run.citations = list(result.get("citations") or [])
    run.engine = result.get("engine")
    run.warnings = list(result.get("warnings") or [])
    await set_status(session, run, DONE)
    await feed.add_items(
        session,
        run.notebook_id,
        [feed.NewItem(kind="research", ref_id=run.id, title=run.question, body=run.report)],
    )
    source = await _report_source(session, app, run)
    run.source_id = source.id if source else None
    await session.flush()
    return source


def findings(report: str) -> str:
    """What a report says, as the text of its source: without the offline engine's note,
    the account of how it was researched, and the Sources list (kept in the source's meta),
    so that cards are made of findings, not of boilerplate."""
    text = report.replace(NO_MODEL_NOTE, "")
    for heading in (HOW_HEADING, SOURCES_TITLE):
        at = text.find(f"\n{heading}")
        if at >= 0:
            text = text[:at]
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


async def _report_source(session: AsyncSession, app: AppContext, run: ResearchRun) -> Source | None:
    """The report's findings as a `research` source with its ingestion job; the same
    findings twice are added once."""
    report = findings(run.report or "")
    notebook = await session.get(Notebook, run.notebook_id)
    if not report.strip() or notebook is None:
        return None
    added = await source_service.add_text(
        session,
        app,
        notebook,
        text=report,
        title=f"Research: {run.question}"[:500],
        tags=[REPORT_TAG],
        kind="research",
        media_type="text/markdown",
        research_run_id=run.id,
        meta={"research_run_id": run.id, "topic_id": run.topic_id, "citations": run.citations},
    )
    return added.source
