"""The one retrieval service: lexical, vector and graph results fused by score, exclusions
applied, returned as passages with their exact source spans.

Fusion (`fuse`) adds to each candidate's cosine similarity to the question a small share of
its min-max normalised lexical (BM25) and graph scores. Reciprocal rank fusion, used before,
was worse than vector search alone on real documents measured from outside (hybrid recall@5
0.63 against vector 0.85): it gives the tenth lexical hit as much say as the tenth vector
hit, and on texts that share boilerplate (licences) BM25's ranks push the right passage out.
Adding scores keeps the cosine in charge and lets an exact term (an option name, a
defined word) lift a passage the vector search ranks just below. The weights were chosen on
the dev questions of `bench/quality.py` (its `tune` part prints the grid: recall@5 is flat
for a lexical weight of 0.03-0.05 and falls beyond it, a graph weight above 0.01 lowered
it; 0.03 and 0.01 were at or above vector search alone on every corpus), and the bench
reports them on its test questions.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool import spans
from learningtool.knowledge import lexical
from learningtool.knowledge.graph import GraphError, GraphHit, KnowledgeGraph
from learningtool.knowledge.vectors import VectorIndex
from learningtool.models import Chunk, Exclusion, Source

GRAPH_GRACE_SECONDS = 1.0
log = structlog.get_logger(__name__)

Mode = Literal["hybrid", "fast", "lexical", "vector", "graph"]
Purpose = Literal["retrieval", "research"]


@dataclass(frozen=True)
class Fusion:
    """How method scores are added: the cosine counts 1, the others their weight."""

    lexical: float = 0.03
    graph: float = 0.01
    candidates: int = 20  # lexical and graph hits taken per query
    vector_candidates: int = 200  # enough that most lexical hits have their own cosine


FUSION = Fusion()
METHODS: dict[str, tuple[str, ...]] = {
    "hybrid": ("lexical", "vector", "graph"),
    "fast": ("lexical", "vector"),
    "lexical": ("lexical",),
    "vector": ("vector",),
    "graph": ("graph",),
}


@dataclass
class Passage:
    chunk_id: str
    source_id: str
    source_title: str
    text: str
    start_char: int
    end_char: int
    page: int | None
    slide: int | None
    heading_path: list[str]
    audio_start: float | None
    audio_end: float | None
    score: float
    ranks: dict[str, int] = field(default_factory=dict)


@dataclass
class Retriever:
    """What search needs, given by the app context (and by tests)."""

    vectors: VectorIndex
    graph: KnowledgeGraph | None


@spans.timed("knowledge.exclusions")
async def excluded_sources(session: AsyncSession, notebook_id: str, purpose: Purpose) -> set[str]:
    """Sources left out for `purpose`: excluded by id, or carrying an excluded tag."""
    rows = (
        await session.execute(
            select(Exclusion.target_kind, Exclusion.target).where(
                Exclusion.notebook_id == notebook_id, Exclusion.scope.in_((purpose, "both"))
            )
        )
    ).all()
    ids = {target for kind, target in rows if kind == "source"}
    tags = {target for kind, target in rows if kind == "tag"}
    if tags:
        sources = await session.execute(
            select(Source.id, Source.tags).where(Source.notebook_id == notebook_id)
        )
        ids.update(source_id for source_id, source_tags in sources if tags & set(source_tags))
    return ids


@spans.timed("knowledge.search")
async def search(
    session: AsyncSession,
    retriever: Retriever,
    notebook_id: str,
    question: str,
    *,
    k: int = 10,
    mode: Mode = "hybrid",
    purpose: Purpose = "retrieval",
) -> list[Passage]:
    """The `k` best passages of the notebook for `question`."""
    methods = [m for m in METHODS[mode] if m != "graph" or retriever.graph is not None]
    scored = await rankings(session, retriever, notebook_id, question, methods)
    excluded = await excluded_sources(session, notebook_id, purpose)  # after the waits
    fused = fuse(scored)
    ranks: dict[str, dict[str, int]] = defaultdict(dict)
    for method, ranking in scored.items():
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            ranks[chunk_id][method] = rank
    ordered = sorted(fused, key=lambda chunk_id: (-fused[chunk_id], chunk_id))
    # Hydrate what may be shown, best first: the ids still needed plus as many again for
    # excluded or vanished chunks, and more only if those ran out (not every candidate).
    kept: list[Passage] = []
    start = 0
    while len(kept) < k and start < len(ordered):
        batch = ordered[start : start + 2 * (k - len(kept))]
        start += len(batch)
        passages = await _passages(session, notebook_id, batch)
        kept += [p for p in passages if p.source_id not in excluded]
    kept = kept[:k]
    for passage in kept:
        passage.score = fused[passage.chunk_id]
        passage.ranks = ranks[passage.chunk_id]
    return kept


def fuse(scored: dict[str, list[tuple[str, float]]], fusion: Fusion = FUSION) -> dict[str, float]:
    """One score per candidate chunk: its cosine (the lowest cosine seen when the vector
    search did not return it) plus, per other method, weight x the method's score min-max
    normalised over its hits. With one method, its normalised score alone."""
    weights = {"vector": 1.0, "lexical": fusion.lexical, "graph": fusion.graph}
    if len(scored) == 1:
        weights = dict.fromkeys(scored, 1.0)
    fused: dict[str, float] = defaultdict(float)
    vector = dict(scored.get("vector", []))
    floor = min(vector.values(), default=0.0)
    for method, hits in scored.items():
        if method == "vector" and len(scored) > 1:
            continue
        for chunk_id, value in _normalised(hits).items():
            fused[chunk_id] += weights[method] * value
    if vector and len(scored) > 1:
        for chunk_id in {*fused, *vector}:
            fused[chunk_id] += vector.get(chunk_id, floor)
    return dict(fused)


def _normalised(hits: list[tuple[str, float]]) -> dict[str, float]:
    """Scores mapped onto [0, 1] (best 1); a single hit, or all equal, count 1."""
    if not hits:
        return {}
    values = [value for _, value in hits]
    low, high = min(values), max(values)
    span = high - low
    return {chunk_id: (value - low) / span if span else 1.0 for chunk_id, value in hits}


async def rankings(
    session: AsyncSession,
    retriever: Retriever,
    notebook_id: str,
    question: str,
    methods: Sequence[str],
    fusion: Fusion = FUSION,
) -> dict[str, list[tuple[str, float]]]:
    """(chunk id, score) per method, best first. The query embedding (the process pool) and
    the graph query (another process) start together and are awaited before the session's
    first query: either can wait seconds behind an ingestion, and a session that had queried
    would hold a pooled connection through the wait (under reads during ingestion, searches
    held the pool and every read, a feed page too, waited 10 s for a connection)."""
    graph_task = None
    if "graph" in methods and retriever.graph is not None:
        graph_task = asyncio.create_task(
            _graph_query(retriever.graph, notebook_id, question, fusion.candidates)
        )
    embedding = None
    if "vector" in methods:
        embedding = asyncio.create_task(retriever.vectors.embed_query(question))
    found: dict[str, list[tuple[str, float]]] = {}
    try:
        query = await embedding if embedding is not None else None
        if graph_task is not None:
            hits = await _graph_hits(graph_task, alone=len(methods) == 1)
            if hits is not None:
                found["graph"] = [(hit.chunk_id, hit.score) for hit in hits]
        if "lexical" in methods:
            found["lexical"] = await lexical.search(
                session, notebook_id, question, fusion.candidates
            )
        if query is not None:
            found["vector"] = await retriever.vectors.search(
                session, notebook_id, question, fusion.vector_candidates, query=query
            )
    finally:
        for task in (graph_task, embedding):
            if task is not None and not task.done():
                task.cancel()
    return found


async def _graph_hits(task: asyncio.Task[list[GraphHit]], *, alone: bool) -> list[GraphHit] | None:
    """The graph's hits; beside other methods, None when the graph fails or has not answered
    `GRAPH_GRACE_SECONDS` after the query embedding (it is another process, and may be
    starting, busy with a long insert, or down): the search carries on with what answered,
    as a degraded result, instead of waiting for it or failing. Alone (mode "graph"), its
    error is the answer."""
    if alone:
        return await task
    try:
        async with asyncio.timeout(GRAPH_GRACE_SECONDS):
            return await task
    except (GraphError, TimeoutError) as error:
        log.warning("graph_skipped", reason=str(error) or type(error).__name__)
        return None


async def passages_by_id(
    session: AsyncSession, notebook_id: str, chunk_ids: list[str]
) -> list[Passage]:
    """The passages of these chunks of the notebook, in this order (what a research report
    cited, for example)."""
    return await _passages(session, notebook_id, chunk_ids)


@spans.timed("knowledge.graph")
async def _graph_query(
    graph: KnowledgeGraph, notebook_id: str, question: str, limit: int
) -> list[GraphHit]:
    """The graph's query as a span of its own: it runs in another process, alongside the
    database queries."""
    return await graph.query(notebook_id, question, limit)


@spans.timed("knowledge.passages")
async def _passages(session: AsyncSession, notebook_id: str, chunk_ids: list[str]) -> list[Passage]:
    """Hydrate chunk ids in the given order; ids no longer in the notebook are dropped (a
    graph may briefly know chunks of a source being re-processed).

    The notebook is checked on the loaded rows, not in SQL: with `notebook_id = ?` in the
    query, SQLite (no statistics) walked the notebook's whole chunk index instead of
    looking the ids up as soon as there were a dozen of them (5 ms at 10,000 chunks)."""
    if not chunk_ids:
        return []
    rows = await session.execute(
        select(Chunk, Source.title)
        .join(Source, Source.id == Chunk.source_id)
        .where(Chunk.id.in_(chunk_ids))
    )
    by_id = {
        chunk.id: (chunk, title) for chunk, title in rows.all() if chunk.notebook_id == notebook_id
    }
    return [
        Passage(
            chunk_id=chunk.id,
            source_id=chunk.source_id,
            source_title=title,
            text=chunk.text,
            start_char=chunk.start_char,
            end_char=chunk.end_char,
            page=chunk.page,
            slide=chunk.slide,
            heading_path=list(chunk.heading_path),
            audio_start=chunk.audio_start,
            audio_end=chunk.audio_end,
            score=0.0,
        )
        for chunk_id in chunk_ids
        if chunk_id in by_id
        for chunk, title in (by_id[chunk_id],)
    ]
