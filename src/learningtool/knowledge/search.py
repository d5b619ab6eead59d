"""The one retrieval service: lexical, vector and graph results fused by reciprocal rank,
exclusions applied, returned as passages with their exact source spans.

Reciprocal rank fusion scores a chunk by the sum over methods of `weight / (K + rank)`.
Plain (equal-weight) fusion lost to dense retrieval alone on paraphrased questions in
measurements here (BM25's poor rankings push good dense hits out), so each method has a
weight. The settings come from `bench/retrieval.py`'s fusion experiment on its evaluation
set: a point inside the flat best region (recall@5 0.89 there, both folds and the
neighbouring weights alike), not the grid's single best point, which did not hold on
held-out questions. With 50 candidates per method, chunks ranked 20-50 by two or three
methods outvoted the best dense hits (fused recall@5 0.75, below vector alone at 0.80);
the offline graph (key phrases) ranks poorly and only breaks ties.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.knowledge import lexical
from learningtool.knowledge.graph import KnowledgeGraph
from learningtool.knowledge.vectors import VectorIndex
from learningtool.models import Chunk, Exclusion, Source

Mode = Literal["hybrid", "fast", "lexical", "vector", "graph"]
Purpose = Literal["retrieval", "research"]
RRF_K = 60
WEIGHTS = {"vector": 1.0, "lexical": 0.5, "graph": 0.1}
CANDIDATES = 20  # per method, before fusion
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
    excluded = await excluded_sources(session, notebook_id, purpose)
    rankings = await _rankings(session, retriever, notebook_id, question, methods)
    fused: dict[str, float] = defaultdict(float)
    ranks: dict[str, dict[str, int]] = defaultdict(dict)
    for method, ranking in rankings.items():
        for rank, chunk_id in enumerate(ranking, start=1):
            fused[chunk_id] += WEIGHTS[method] / (RRF_K + rank)
            ranks[chunk_id][method] = rank
    ordered = sorted(fused, key=lambda chunk_id: (-fused[chunk_id], chunk_id))
    # Hydrate what may be shown, best first: the ids still needed plus as many again for
    # excluded or vanished chunks, and more only if those ran out (not all 3 x CANDIDATES).
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


async def _rankings(
    session: AsyncSession,
    retriever: Retriever,
    notebook_id: str,
    question: str,
    methods: list[str],
) -> dict[str, list[str]]:
    """Chunk ids per method, best first. The database queries share the session and run one
    after the other; the graph query (another process) and the query embedding (the
    process pool) run alongside them."""
    graph_task = None
    if "graph" in methods and retriever.graph is not None:
        graph_task = asyncio.create_task(retriever.graph.query(notebook_id, question, CANDIDATES))
    embedding = None
    if "vector" in methods:
        embedding = asyncio.create_task(retriever.vectors.embed_query(question))
    rankings: dict[str, list[str]] = {}
    try:
        if "lexical" in methods:
            hits = await lexical.search(session, notebook_id, question, CANDIDATES)
            rankings["lexical"] = [chunk_id for chunk_id, _ in hits]
        if embedding is not None:
            hits = await retriever.vectors.search(
                session, notebook_id, question, CANDIDATES, query=await embedding
            )
            rankings["vector"] = [chunk_id for chunk_id, _ in hits]
        if graph_task is not None:
            rankings["graph"] = [hit.chunk_id for hit in await graph_task]
    finally:
        for task in (graph_task, embedding):
            if task is not None and not task.done():
                task.cancel()
    return rankings


async def passages_by_id(
    session: AsyncSession, notebook_id: str, chunk_ids: list[str]
) -> list[Passage]:
    """The passages of these chunks of the notebook, in this order (what a research report
    cited, for example)."""
    return await _passages(session, notebook_id, chunk_ids)


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
