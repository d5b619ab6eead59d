"""The research graph: plan queries -> search them in parallel -> reflect on gaps -> loop ->
write a cited report.

    START -> plan -> search x N (Send, parallel) -> reflect -> search x M ... -> report -> END

Every node is `async` and reads what it may call from the run's `ResearchContext` (see
`context.py`); the state is plain JSON (see `state.py`), so any checkpointer can store it
and a resumed run repeats at most the step that was running (LangGraph keeps the writes of
parallel tasks that finished). The effort level bounds the loops, the queries per loop and
the sources a report may draw on (`state.EFFORTS`).

Two engines behind the same nodes: with `context.llm` the model plans, reflects and writes;
without it (or when a model call fails for good) the offline engine of `offline.py` does,
and the report says so. The notebook is always searched; the web only when the run asks for
it and the context has a searcher. A failed web search is logged in `searches` and the run
goes on with what it has.

The offline engine's reflection and report are pure-Python text work (10-30 ms on a few
dozen passages): they run in a thread, where the loop gets the GIL back at every switch
interval (5 ms), instead of holding the loop for the whole of it. A process would spend more
on pickling the evidence than on the work.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from learningtool.errors import AppError
from learningtool.llm import LlmError
from learningtool.research.agent import offline, prompts
from learningtool.research.agent.context import (
    CONTEXT_KEY,
    ContextFactory,
    ResearchContext,
    context_of,
    in_memory_context,
    report_progress,
)
from learningtool.research.agent.report import FinalReport, check_report, finalize
from learningtool.research.agent.state import (
    Engine,
    Evidence,
    ProgressEvent,
    ResearchInput,
    ResearchOutput,
    ResearchState,
    SearchLog,
    SearchTask,
    bounds,
)

log = structlog.get_logger(__name__)
GRAPH_NAME = "research"


async def _emit(runtime: Runtime[Any], context: ResearchContext, event: ProgressEvent) -> None:
    """A progress event to the custom stream (when one is listening) and the callback."""
    runtime.stream_writer(dict(event))
    await report_progress(context, event)


def _context(runtime: Runtime[Any]) -> ResearchContext:
    """The runtime context, or the one a graph factory put in the run's config."""
    return context_of(runtime.context, get_config())


def _use_web(state: ResearchState, context: ResearchContext) -> bool:
    return bool(state.get("use_web", True)) and context.search_web is not None


# -- plan ---------------------------------------------------------------------------------------


async def plan(state: ResearchState, runtime: Runtime[Any]) -> dict[str, Any]:
    """The first loop's queries: from the model, or the offline key-phrase plan."""
    context = _context(runtime)
    limits = bounds(state.get("effort"))
    question = state["question"].strip()
    queries: list[str] = []
    warnings: list[str] = []
    engine: Engine = "offline"
    if context.llm is not None:
        try:
            reply = await context.llm.structured(
                system=prompts.PLAN_SYSTEM.format(
                    where=prompts.where(_use_web(state, context)), n=limits.queries_per_loop
                ),
                user=prompts.PLAN_USER.format(question=question),
                schema=prompts.Plan,
                task="research.plan",
                usage=context.usage,
            )
            queries = _clean(reply.value.queries, limits.queries_per_loop, [])
            engine = "llm"
        except LlmError as error:
            warnings.append(f"planning fell back to the offline engine: {error.message}")
    if not queries:
        queries = offline.plan_queries(question, limits.queries_per_loop)
    await _emit(runtime, context, {"step": "plan", "loop": 1, "queries": queries, "engine": engine})
    return {
        "loop": 1,
        "pending": queries,
        "queries": queries,
        "engine": engine,
        "warnings": warnings,
        "gaps": [],
        "sufficient": not queries,
    }


def _clean(queries: list[str], n: int, asked: list[str]) -> list[str]:
    """Model queries without blanks, repeats or queries already run, at most `n`."""
    seen = {" ".join(q.lower().split()) for q in asked}
    kept: list[str] = []
    for query in queries:
        text = " ".join(str(query).split())[:300]
        if text and text.lower() not in seen:
            seen.add(text.lower())
            kept.append(text)
    return kept[:n]


def dispatch(state: ResearchState) -> list[Send] | str:
    """One `search` task per pending query (run in parallel), or on to the report."""
    pending = state.get("pending") or []
    if not pending or state.get("sufficient"):
        return "report"
    limits = bounds(state.get("effort"))
    loop = state.get("loop", 1)
    use_web = bool(state.get("use_web", True))
    return [
        Send("search", SearchTask(query=q, loop=loop, k=limits.results_per_query, use_web=use_web))
        for q in pending
    ]


# -- search -------------------------------------------------------------------------------------


async def search(task: SearchTask, runtime: Runtime[Any]) -> dict[str, Any]:
    """One query over the notebook and, when allowed, the web."""
    context = _context(runtime)
    query, loop, k = task["query"], task["loop"], task["k"]
    found: list[Evidence] = [
        {**item, "query": query, "loop": loop} for item in await context.search_notebook(query, k)
    ]
    notebook_count = len(found)
    web_count, error = 0, None
    if task["use_web"] and context.search_web is not None:
        try:
            web = await context.search_web(query, k)
        except AppError as failure:
            error = failure.message
            log.warning("research_web_search_failed", query=query, error=error)
        else:
            found.extend({**item, "query": query, "loop": loop} for item in web)
            web_count = len(web)
    await _emit(
        runtime,
        context,
        {"step": "search", "loop": loop, "query": query, "found": len(found)},
    )
    entry = SearchLog(query=query, loop=loop, notebook=notebook_count, web=web_count, error=error)
    return {"evidence": found, "searches": [entry]}


# -- reflect ------------------------------------------------------------------------------------


async def reflect(state: ResearchState, runtime: Runtime[Any]) -> dict[str, Any]:
    """What the evidence leaves open, and the next loop's queries (none past the bound)."""
    context = _context(runtime)
    limits = bounds(state.get("effort"))
    evidence = state.get("evidence") or []
    asked = state.get("queries") or []
    loop = state.get("loop", 1)
    warnings = list(state.get("warnings") or [])
    gaps, queries, sufficient = await _reflection(context, state, evidence, asked, warnings)
    if loop >= limits.max_loops:
        queries, sufficient = [], True
    await _emit(
        runtime,
        context,
        {
            "step": "reflect",
            "loop": loop,
            "gaps": gaps,
            "queries": queries,
            "sources_found": len(evidence),
        },
    )
    update: dict[str, Any] = {
        "gaps": gaps,
        "pending": queries,
        "sufficient": sufficient or not queries,
        "warnings": warnings,
    }
    if queries and not sufficient:
        update["loop"] = loop + 1
        update["queries"] = [*asked, *queries]
    return update


async def _reflection(
    context: ResearchContext,
    state: ResearchState,
    evidence: list[Evidence],
    asked: list[str],
    warnings: list[str],
) -> tuple[list[str], list[str], bool]:
    limits = bounds(state.get("effort"))
    question = state["question"]
    if context.llm is not None and state.get("engine") == "llm":
        shown = offline.ordered_evidence(evidence)[: prompts.MAX_REFLECT_SOURCES]
        numbered = {n: item for n, item in enumerate(shown, start=1)}
        try:
            reply = await context.llm.structured(
                system=prompts.REFLECT_SYSTEM.format(n=limits.queries_per_loop),
                user=prompts.REFLECT_USER.format(
                    question=question,
                    queries=prompts.bullet_list(asked),
                    count=len(shown),
                    sources=prompts.render_sources(numbered, prompts.SOURCE_CHARS_REFLECT),
                ),
                schema=prompts.ReflectionReply,
                task="research.reflect",
                usage=context.usage,
            )
            value = reply.value
            queries = _clean(value.follow_up_queries, limits.queries_per_loop, asked)
            return [g.strip() for g in value.gaps if g.strip()], queries, value.sufficient
        except LlmError as error:
            warnings.append(f"reflection fell back to the offline engine: {error.message}")
    result = await asyncio.to_thread(
        offline.reflect, question, evidence, asked, limits.queries_per_loop
    )
    return result.gaps, result.queries, result.sufficient


def after_reflect(state: ResearchState) -> list[Send] | str:
    return dispatch(state)


# -- report -------------------------------------------------------------------------------------


async def report(state: ResearchState, runtime: Runtime[Any]) -> dict[str, Any]:
    """The cited Markdown report: written by the model from the best evidence, or extractive.
    Every `[n]` of the result maps to a citation (checked before the report is returned)."""
    context = _context(runtime)
    limits = bounds(state.get("effort"))
    question = state["question"]
    evidence = state.get("evidence") or []
    queries = state.get("queries") or []
    loops = state.get("loop", 1)
    warnings = list(state.get("warnings") or [])
    failed = [entry for entry in state.get("searches") or [] if entry["error"]]
    if failed:
        warnings.append(
            f"the web search failed for {len(failed)} of {len(state.get('searches') or [])} "
            f"queries ({failed[0]['error']}); those used the notebook alone"
        )
    engine: Engine = "offline"
    final: FinalReport | None = None
    if context.llm is not None and state.get("engine") == "llm" and evidence:
        final = await _llm_report(context, question, evidence, limits.report_sources, warnings)
        engine = "llm" if final is not None else "offline"
    if final is None:
        final = await asyncio.to_thread(
            functools.partial(
                offline.offline_report, question, evidence, limits, queries=queries, loops=loops
            )
        )
    check_report(final.markdown, final.citations)
    await _emit(runtime, context, {"step": "report", "loop": loops, "engine": engine, "done": True})
    return {
        "report": final.markdown,
        "citations": final.citations,
        "queries": queries,
        "loops": loops,
        "engine": engine,
        "gaps": state.get("gaps") or [],
        "warnings": warnings,
    }


async def _llm_report(
    context: ResearchContext,
    question: str,
    evidence: list[Evidence],
    max_sources: int,
    warnings: list[str],
) -> FinalReport | None:
    assert context.llm is not None
    shown = offline.ordered_evidence(evidence)[:max_sources]
    numbered = {n: item for n, item in enumerate(shown, start=1)}
    try:
        body, _used = await context.llm.text(
            system=prompts.REPORT_SYSTEM,
            user=prompts.REPORT_USER.format(
                question=question,
                sources=prompts.render_sources(numbered, prompts.SOURCE_CHARS_REPORT),
            ),
            task="research.report",
            usage=context.usage,
        )
    except LlmError as error:
        warnings.append(f"the report fell back to the offline engine: {error.message}")
        return None
    final = await asyncio.to_thread(finalize, body, numbered)
    if not final.citations:
        warnings.append("the model's report cited no source; an extractive report replaces it")
        return None
    if final.dropped:
        warnings.append(f"the model cited sources it was not shown, removed: {final.dropped}")
    return final


# -- the graph ----------------------------------------------------------------------------------


def build() -> StateGraph[ResearchState, Any, ResearchInput, ResearchOutput]:
    builder: StateGraph[ResearchState, Any, ResearchInput, ResearchOutput] = StateGraph(
        ResearchState, input_schema=ResearchInput, output_schema=ResearchOutput
    )
    builder.add_node("plan", plan)
    builder.add_node("search", search)  # type: ignore[arg-type]  # input: a SearchTask (Send)
    builder.add_node("reflect", reflect)
    builder.add_node("report", report)
    builder.add_edge(START, "plan")
    builder.add_conditional_edges("plan", dispatch, ["search", "report"])
    builder.add_edge("search", "reflect")
    builder.add_conditional_edges("reflect", after_reflect, ["search", "report"])
    builder.add_edge("report", END)
    return builder


@functools.cache
def _compiled() -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compiled once per process (5-10 ms of CPU each time otherwise); it holds no state of
    a run and nothing bound to a loop."""
    return build().compile(name=GRAPH_NAME)


def compile_graph(checkpointer: Any = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The graph, checkpointed by `checkpointer` (None: no persistence)."""
    graph = _compiled()
    return graph.copy({"checkpointer": checkpointer}) if checkpointer is not None else graph


def graph_factory(
    opener: ContextFactory,
) -> Any:
    """A `langgraph.json` graph factory: per run, open a context with `opener(config)` on the
    run's own loop, give the graph to the server with the context in its config, close the
    context when the run ends. Nothing is shared between runs (each may run on its own loop
    with `BG_JOB_ISOLATED_LOOPS=true`)."""

    @asynccontextmanager
    async def factory(config: RunnableConfig) -> AsyncIterator[Any]:
        async with opener(config) as context:
            yield compile_graph().with_config(configurable={CONTEXT_KEY: context})

    return factory


in_memory_graph = graph_factory(in_memory_context)
