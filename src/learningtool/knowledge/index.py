"""Indexing a source's chunks: embeddings (cached by text hash) and the knowledge graph.

Called by the ingestion job between chunking and the transaction that marks the source
ready, so a source is ready only once every index has it; a failure here fails the job
(and is retried), never a half-indexed ready source. Both steps are idempotent: embedding
rows are keyed by content, and the graph first forgets what it knew of the source. The
lexical index needs no step: the database maintains it (migration 0002).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from learningtool.db import session_scope
from learningtool.knowledge.graph import GraphChunk, KnowledgeGraph
from learningtool.knowledge.keys import embed_text
from learningtool.knowledge.vectors import VectorIndex, ensure_embeddings

if TYPE_CHECKING:
    from learningtool.knowledge.embed import Embedder


class Stores(Protocol):
    """What indexing uses: the app's context has these, and this package needs no more of
    it (nor imports it: the context is assembled above the domains)."""

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...

    @property
    def embedder(self) -> Embedder: ...

    @property
    def graph(self) -> KnowledgeGraph | None: ...

    @property
    def vectors(self) -> VectorIndex: ...


@dataclass(frozen=True)
class ChunkToIndex:
    id: str
    text: str
    heading_path: Sequence[str]
    embed_hash: str


async def index_chunks(
    app: Stores, notebook_id: str, source_id: str, title: str, chunks: list[ChunkToIndex]
) -> int:
    """Embed what is not cached yet (committed at once: the rows are content-addressed and
    harmless until chunks point at them), then replace the source in the graph. Returns the
    number of texts embedded."""
    texts = {c.embed_hash: embed_text(title, c.heading_path, c.text) for c in chunks}
    async with session_scope(app.sessions) as session:
        embedded = await ensure_embeddings(session, app.embedder, texts)
    if app.graph is not None:
        await app.graph.delete_source(notebook_id, source_id, [c.id for c in chunks])
        await app.graph.insert(
            notebook_id,
            [GraphChunk(chunk_id=c.id, source_id=source_id, text=c.text) for c in chunks],
        )
    return embedded
