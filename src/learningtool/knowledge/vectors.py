"""Vectors: chunk embeddings cached in SQL by text hash, searched in memory per notebook.

SQL stays the source of truth (`embeddings` rows, joined to chunks by `embed_hash`); the
in-memory matrix of a notebook is a cache, reloaded when the notebook's `index_version`
moved. A matrix of 10,000 chunks x 384 dimensions is 15 MB and one product with the query
takes about a millisecond (single-threaded), so no approximate index is needed at this
scale.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool import spans
from learningtool.models import Chunk, Embedding, Notebook

if TYPE_CHECKING:
    from learningtool.knowledge.embed import Embedder


async def bump_index_version(session: AsyncSession, notebook_id: str) -> None:
    """Mark the notebook's chunks as changed, for in-memory indexes (same transaction)."""
    await session.execute(
        update(Notebook)
        .where(Notebook.id == notebook_id)
        .values(index_version=Notebook.index_version + 1)
    )


async def ensure_embeddings(
    session: AsyncSession, embedder: Embedder, texts: dict[str, str]
) -> int:
    """Embed the texts (by hash) that have no vector yet for this model, and add their rows
    to `session`. Returns how many were embedded."""
    if not texts:
        return 0
    known: set[str] = set()
    hashes = list(texts)
    for start in range(0, len(hashes), 500):
        batch = hashes[start : start + 500]
        known.update(
            await session.scalars(
                select(Embedding.text_hash).where(
                    Embedding.model == embedder.name, Embedding.text_hash.in_(batch)
                )
            )
        )
    missing = [h for h in hashes if h not in known]
    if not missing:
        return 0
    vectors = await embedder.embed([texts[h] for h in missing])
    for first in range(0, len(missing), BATCH_ROWS):  # bounded loop time per statement
        rows = [
            {
                "model": embedder.name,
                "text_hash": h,
                "dim": int(vectors.shape[1]),
                "vector": np.asarray(vector, dtype=np.float32).tobytes(),
            }
            for h, vector in zip(
                missing[first : first + BATCH_ROWS],
                vectors[first : first + BATCH_ROWS],
                strict=True,
            )
        ]
        await session.execute(insert(Embedding), rows)
    return len(missing)


BATCH_ROWS = 250


@dataclass(frozen=True)
class NotebookMatrix:
    """One notebook's chunk vectors as of its `index_version`, row i for `chunk_ids[i]`."""

    version: int
    chunk_ids: list[str]
    vectors: NDArray[np.float32]


class VectorIndex:
    """Per-notebook matrices, least recently used evicted beyond `max_notebooks`."""

    def __init__(self, embedder: Embedder, max_notebooks: int = 8) -> None:
        self.embedder = embedder
        self.max_notebooks = max_notebooks
        self._cache: OrderedDict[str, NotebookMatrix] = OrderedDict()

    async def embed_query(self, question: str) -> NDArray[np.float32]:
        """The question's vector (one row of the embedder's output)."""
        vector: NDArray[np.float32] = (await self.embedder.embed_query(question))[0]
        return vector

    @spans.timed("knowledge.vector")
    async def search(
        self,
        session: AsyncSession,
        notebook_id: str,
        question: str,
        limit: int,
        *,
        query: NDArray[np.float32] | None = None,
    ) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) pairs, best first. `query`: the question's vector
        when the caller embedded it already (`embed_query`)."""
        matrix = await self.matrix(session, notebook_id)
        if not matrix.chunk_ids:
            return []
        if query is None:
            query = await self.embed_query(question)
        # numpy's own loop, not BLAS: OpenBLAS splits a matrix-vector product over threads,
        # and on a busy 2-core machine waiting for the second one took a 10,000-row product
        # from 0.5 ms to 20 ms at p95 (in the event loop's thread).
        scores = np.vecdot(matrix.vectors, query)
        top = min(limit, len(scores))
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.argsort(-scores[best])]
        return [(matrix.chunk_ids[i], float(scores[i])) for i in best]

    @spans.timed("knowledge.vector_matrix")
    async def matrix(self, session: AsyncSession, notebook_id: str) -> NotebookMatrix:
        """The notebook's vectors: the cached matrix while `index_version` has not moved,
        else loaded again from SQL. Public so that a bench can time a cold load by itself."""
        version = await session.scalar(
            select(Notebook.index_version).where(Notebook.id == notebook_id)
        )
        cached = self._cache.get(notebook_id)
        if cached is not None and cached.version == version:
            self._cache.move_to_end(notebook_id)
            return cached
        rows = (
            await session.execute(
                select(Chunk.id, Embedding.vector)
                .join(
                    Embedding,
                    (Embedding.text_hash == Chunk.embed_hash)
                    & (Embedding.model == self.embedder.name),
                )
                .where(Chunk.notebook_id == notebook_id)
                .order_by(Chunk.id)
            )
        ).all()
        ids = [row[0] for row in rows]
        blob = b"".join(row[1] for row in rows)
        vectors = (
            np.frombuffer(blob, dtype=np.float32).reshape(len(ids), -1)
            if ids
            else (np.zeros((0, 1), dtype=np.float32))
        )
        matrix = NotebookMatrix(version or 0, ids, vectors)
        self._cache[notebook_id] = matrix
        while len(self._cache) > self.max_notebooks:
            self._cache.popitem(last=False)
        return matrix

    def forget(self, notebook_id: str) -> None:
        self._cache.pop(notebook_id, None)
