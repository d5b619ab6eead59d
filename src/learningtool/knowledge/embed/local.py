"""The default embedder: the packaged model (see `packaged`) run in the process pool (see
`runtime`), from the service's side."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from learningtool import spans
from learningtool.knowledge.embed.batching import QueryBatcher
from learningtool.knowledge.embed.packaged import DEFAULT_LOCAL_MODEL, local_model
from learningtool.knowledge.embed.protocol import Vectors
from learningtool.knowledge.embed.runtime import embed_in_worker

if TYPE_CHECKING:
    from learningtool.cpu import CpuPool

# Texts per task of the model's process. A question's embedding goes before waiting tasks
# but waits for the one running (`CpuPool`): 64 texts held the process for seconds under
# ingestion, and searches waited that long; 16 keep the wait near half a second.
DEFAULT_BATCH_SIZE = 16
# Questions per task when concurrent questions are batched (`QueryBatcher`); 1: one each.
DEFAULT_QUERY_BATCH_SIZE = 32


class LocalEmbedder:
    """The packaged model run in the process pool, `batch_size` texts per pool task, each
    task capped at `timeout_seconds` (the first one in a worker also loads the model).
    Concurrent questions go together, up to `query_batch_size` per task."""

    def __init__(
        self,
        pool: CpuPool,
        model: str = DEFAULT_LOCAL_MODEL,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        timeout_seconds: float = 120.0,
        threads: int | None = None,
        query_batch_size: int = DEFAULT_QUERY_BATCH_SIZE,
    ) -> None:
        self.pool = pool
        self.model = local_model(model)
        self.batch_size = max(1, batch_size)
        self.timeout_seconds = timeout_seconds
        # onnxruntime threads per worker: the cores shared among the pool's processes.
        self.threads = threads or max(1, (os.cpu_count() or 1) // max(1, pool.workers))
        self.queries = QueryBatcher(
            self._embed_queries, max_batch=query_batch_size, max_in_flight=pool.workers
        )

    @property
    def name(self) -> str:
        return f"local:{self.model.id}:{self.model.dim}"

    @property
    def dim(self) -> int:
        return self.model.dim

    async def embed(self, texts: list[str]) -> Vectors:
        return await self._run([self.model.passage_prefix + t for t in texts])

    @spans.timed("embed.local_query")
    async def embed_query(self, text: str) -> Vectors:
        """Urgent in the pool: someone waits for it, ahead of any ingestion's batches."""
        return await self.queries.embed(self.model.query_prefix + text)

    async def _embed_queries(self, texts: list[str]) -> Vectors:
        return await self.pool.run(
            self.timeout_seconds, embed_in_worker, self.model.id, texts, self.threads, urgent=True
        )

    async def warm_up(self) -> None:
        """Load (and verify) the model in a worker now, so that a missing package or a bad
        checksum shows at startup rather than at the first upload."""
        await self._run(["warm up"])

    async def _run(self, texts: list[str], *, urgent: bool = False) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            await self.pool.run(
                self.timeout_seconds,
                embed_in_worker,
                self.model.id,
                texts[start : start + self.batch_size],
                self.threads,
                urgent=urgent,
            )
            for start in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]
