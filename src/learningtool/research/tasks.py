"""The `research.run` job: run (or resume) the research graph for one run, then bring the
report back into the notebook.

The graph checkpoints every finished step into the app's database under `thread_id = run
id`. A job that runs again (its worker died and the lease expired, the service restarted, a
retry) looks at the checkpoint first: a run with steps left continues from there (a step
that was running when the worker died runs again, finished parallel searches do not), a run
whose graph had finished is only stored. The stored effects (report, feed item, report
source) commit with the job's completion, so they happen once.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog
from langchain_core.runnables import RunnableConfig
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from learningtool import spans
from learningtool.jobs.registry import JobContext, job
from learningtool.knowledge.search import Mode, Retriever
from learningtool.knowledge.search import search as search_notebook
from learningtool.llm import UsageRecorder
from learningtool.models import ResearchRun, Source, TopicPreference, utcnow
from learningtool.research import service
from learningtool.research.agent.context import ResearchContext, SearchFn, passage_evidence
from learningtool.research.agent.graph import compile_graph
from learningtool.research.agent.state import Evidence, ProgressEvent, ResearchInput, bounds
from learningtool.research.checkpoints import delete_runs, open_checkpointer
from learningtool.research.web import WebSearchNotConfigured, create_web_searcher

if TYPE_CHECKING:  # assembled above the domains; passed in at run time
    from learningtool.context import AppContext

log = structlog.get_logger(__name__)
MAX_STORED_EVENTS = 500


async def mark_failed(session: AsyncSession, payload: dict[str, Any], reason: str) -> None:
    run = await session.get(ResearchRun, str(payload["run_id"]))
    if run is not None and run.status not in service.FINISHED:
        status = service.CANCELLED if reason == "cancelled" else service.FAILED
        await service.set_status(session, run, status, error=reason)


@job(service.RESEARCH_JOB, timeout_seconds=3600, on_failure=mark_failed)
async def run_research(ctx: JobContext) -> dict[str, Any]:
    run_id = str(ctx.payload["run_id"])
    async with ctx.app.sessions() as session:
        run = await session.get(ResearchRun, run_id)
        if run is None or run.status in service.FINISHED:
            return {"skipped": "the run is gone or finished"}
        await service.set_status(session, run, service.RESEARCHING)
        await session.commit()
        domains = await _preferred_domains(session, run.notebook_id)
    recorder = _EventRecorder(ctx, run_id, bounds(run.effort).max_loops)
    usage = UsageRecorder()
    context = ResearchContext(
        search_notebook=await notebook_search(ctx.app.sessions, ctx.app.retriever, run.notebook_id),
        search_web=_web_search(ctx.app, domains) if run.use_web else None,
        llm=ctx.app.llm,
        progress=recorder,
        usage=usage,
    )
    values = await run_graph(ctx.app, run, context)
    run = await ctx.session.get(ResearchRun, run_id, populate_existing=True)
    if run is None or run.status in service.FINISHED:  # deleted or cancelled meanwhile
        return {"skipped": "the run was cancelled"}
    run.usage = usage.as_dict()
    source = await service.finish(ctx.session, ctx.app, run, values)
    return {
        "citations": len(values.get("citations") or []),
        "engine": values.get("engine"),
        "source_id": source.id if source else None,
        "tokens": usage.total.total_tokens,
    }


async def run_graph(app: AppContext, run: ResearchRun, context: ResearchContext) -> dict[str, Any]:
    """The graph's final values for `run`: started, resumed from its checkpoint, or read
    back when an earlier attempt had finished it."""
    config: RunnableConfig = {"configurable": {"thread_id": run.id}}
    async with open_checkpointer(app.settings.sqlalchemy_url) as saver:
        graph = compile_graph(saver)
        state = await graph.aget_state(config)
        if state.next:
            log.info("research_resumed", run_id=run.id, next=list(state.next))
            await graph.ainvoke(None, config, context=context)
        elif not state.values.get("report"):
            start = ResearchInput(question=run.question, effort=run.effort, use_web=run.use_web)  # type: ignore[typeddict-item]
            await graph.ainvoke(start, config, context=context)
        final = await graph.aget_state(config)
    return dict(final.values)


async def notebook_search(
    sessions: async_sessionmaker[AsyncSession],
    retriever: Retriever,
    notebook_id: str,
    mode: Mode = "hybrid",
) -> SearchFn:
    """Fused search over the notebook with research exclusions, leaving out the notebook's
    own research reports (a report must not cite an earlier report as evidence)."""
    async with sessions() as session:
        reports = set(
            await session.scalars(
                select(Source.id).where(
                    Source.notebook_id == notebook_id, Source.kind == "research"
                )
            )
        )

    async def search(query: str, k: int) -> list[Evidence]:
        async with sessions() as session:
            passages = await search_notebook(
                session, retriever, notebook_id, query, k=k + len(reports), mode=mode,
                purpose="research",
            )  # fmt: skip
        kept = [p for p in passages if p.source_id not in reports][:k]
        return [passage_evidence(p, rank=rank) for rank, p in enumerate(kept, start=1)]

    return search


def _web_search(app: AppContext, domains: list[str]) -> SearchFn | None:
    """The configured web search, or None (also when it is misconfigured: the run then
    searches the notebook alone, and the log says why)."""
    try:
        searcher = create_web_searcher(app.settings, preferred_domains=domains)
    except WebSearchNotConfigured as error:
        log.warning("research_web_search_unavailable", error=error.message)
        return None
    return searcher.search if searcher is not None else None


async def _preferred_domains(session: AsyncSession, notebook_id: str) -> list[str]:
    domains = await session.scalar(
        select(TopicPreference.preferred_domains).where(TopicPreference.notebook_id == notebook_id)
    )
    return [str(d) for d in domains or []]


class _EventRecorder:
    """Each progress event goes into the run's `events` (committed at once, so the events
    stream of any process sees it) and becomes the job's progress."""

    def __init__(self, ctx: JobContext, run_id: str, max_loops: int) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.max_loops = max_loops
        self._lock = asyncio.Lock()  # parallel searches report at once: no lost appends

    @spans.timed("research.event")
    async def __call__(self, event: ProgressEvent) -> None:
        stamped = {**event, "at": utcnow().isoformat()}
        async with self._lock, self.ctx.app.sessions() as session:
            events = await session.scalar(
                select(ResearchRun.events).where(ResearchRun.id == self.run_id)
            )
            if events is not None and len(events) < MAX_STORED_EVENTS:
                await session.execute(
                    update(ResearchRun)
                    .where(ResearchRun.id == self.run_id)
                    .values(events=[*events, stamped], updated_at=utcnow())
                )
                await session.commit()
        await self.ctx.progress(self._fraction(event), _describe(event))

    def _fraction(self, event: ProgressEvent) -> float:
        if event["step"] == "report":
            return 0.95
        if event["step"] == "plan":
            return 0.1
        loop = event.get("loop", 1)
        return min(0.9, 0.1 + 0.8 * loop / max(self.max_loops, 1))


def _describe(event: ProgressEvent) -> str:
    step = event["step"]
    if step == "plan":
        return f"planned {len(event.get('queries') or [])} queries"
    if step == "search":
        return f"searched {event.get('query', '')!r}: {event.get('found', 0)} found"
    if step == "reflect":
        return (
            f"{event.get('sources_found', 0)} sources so far; gaps: {len(event.get('gaps') or [])}"
        )
    return "report written"


@job("research.forget_runs")
async def forget_runs(ctx: JobContext) -> dict[str, Any]:
    """Delete the checkpoints of runs whose notebook was purged (enqueued by that purge)."""
    run_ids = [str(run_id) for run_id in ctx.payload.get("run_ids", [])]
    await delete_runs(ctx.app.settings.sqlalchemy_url, run_ids)
    return {"runs": len(run_ids)}
