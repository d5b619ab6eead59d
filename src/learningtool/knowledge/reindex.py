"""Rebuild every index from SQL, the source of truth: the full-text table, the embeddings
(for the configured model: after a model change, or a lost cache) and the knowledge graph."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, update

from learningtool.db import session_scope
from learningtool.knowledge import lexical
from learningtool.knowledge.index import ChunkToIndex, Stores, index_chunks
from learningtool.knowledge.keys import embed_text, text_hash
from learningtool.knowledge.vectors import bump_index_version
from learningtool.models import Chunk, Notebook, Source

Progress = Callable[[str], None]


async def reindex(
    app: Stores, *, notebook_ids: list[str] | None = None, progress: Progress = print
) -> dict[str, int]:
    """Rebuild the indexes of the given notebooks (default: all live ones). Idempotent."""
    async with session_scope(app.sessions) as session:
        await lexical.rebuild(session)
        query = select(Notebook.id, Notebook.name).where(Notebook.deleted_at.is_(None))
        if notebook_ids is not None:
            query = query.where(Notebook.id.in_(notebook_ids))
        notebooks = (await session.execute(query.order_by(Notebook.created_at))).all()
    progress("full-text index rebuilt")
    totals = {"notebooks": 0, "sources": 0, "chunks": 0, "embedded": 0}
    for notebook_id, name in notebooks:
        if app.graph is not None:
            await app.graph.drop(notebook_id)
        app.vectors.forget(notebook_id)
        counts = await _reindex_notebook(app, notebook_id)
        for key, value in counts.items():
            totals[key] += value
        totals["notebooks"] += 1
        progress(f"{name}: {counts['sources']} sources, {counts['chunks']} chunks")
    return totals


async def _reindex_notebook(app: Stores, notebook_id: str) -> dict[str, int]:
    async with app.sessions() as session:
        sources = (
            await session.execute(
                select(Source.id, Source.title).where(
                    Source.notebook_id == notebook_id, Source.status == "ready"
                )
            )
        ).all()
    counts = {"sources": 0, "chunks": 0, "embedded": 0}
    for source_id, title in sources:
        async with app.sessions() as session:
            rows = (
                await session.execute(
                    select(Chunk.id, Chunk.text, Chunk.heading_path)
                    .where(Chunk.source_id == source_id)
                    .order_by(Chunk.ordinal)
                )
            ).all()
        chunks = [
            ChunkToIndex(chunk_id, text, list(path), text_hash(embed_text(title, list(path), text)))
            for chunk_id, text, path in rows
        ]
        counts["embedded"] += await index_chunks(app, notebook_id, source_id, title, chunks)
        async with session_scope(app.sessions) as session:
            for chunk in chunks:
                await session.execute(
                    update(Chunk).where(Chunk.id == chunk.id).values(embed_hash=chunk.embed_hash)
                )
            await bump_index_version(session, notebook_id)
        counts["sources"] += 1
        counts["chunks"] += len(chunks)
    return counts
