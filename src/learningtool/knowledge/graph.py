"""The knowledge graph of a notebook: key phrases, their co-occurrence, and the chunks behind
them, kept in LightRAG (one workspace per notebook).

`KnowledgeGraph` is what the service uses; `LightRagGraph` is the real one (the tests of
other parts use an in-memory stand-in, `tests/support/fake_graph.py`).

`LightRagGraph` never runs LightRAG in the service process: LightRAG's file storages do
blocking file I/O and wait on thread locks. It starts one long-lived worker process
(`graph_worker.process.main`, multiprocessing 'spawn') that owns its own event loop and every
notebook's LightRAG instance, and talks to it over a pipe:
- requests carry ids, so any number can be in flight; a reader thread receives the replies
  and resolves each caller's future on the service's loop (`call_soon_threadsafe`);
- starting the process, writing to the pipe and stopping the process happen in threads
  (`asyncio.to_thread`), never on the loop;
- each call is time-capped; a call that overruns kills the worker (it may be stuck: a call
  cannot be cancelled inside it) and fails with `GraphTimeout`; calls in flight at that
  moment fail as interrupted;
- a worker that dies (crash, kill) is restarted by the next call; a call whose worker died
  under it is sent once more to a fresh worker (every operation is idempotent);
- inserts into one notebook are serialised inside the worker (LightRAG issue #1968); large
  inserts are sent in batches of `batch_size` chunks, so reads get a turn between them.
How the worker builds the graph offline (no LLM) and how it ranks chunks for a question: see
`graph_worker`. Every hit names one of OUR chunk ids, i.e. an exact span of a source.

A failed write raises `GraphError` (or `ValueError` for bad input): the caller must not mark
its source ready. Inserting the same chunk ids again is harmless (idempotent), so the caller
may simply retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, NotRequired, Protocol, TypedDict

from learningtool import cpu
from learningtool.errors import ServiceUnavailable
from learningtool.knowledge.graph_worker.config import (
    NOTEBOOK_ID,
    EmbeddingSpec,
    WorkerConfig,
    hashing_embedding,
)
from learningtool.knowledge.graph_worker.process import main as worker_main

__all__ = [
    "EmbeddingSpec",
    "GraphChunk",
    "GraphEntity",
    "GraphError",
    "GraphHit",
    "GraphInterrupted",
    "GraphRelation",
    "GraphTimeout",
    "GraphView",
    "KnowledgeGraph",
    "LightRagGraph",
    "hashing_embedding",
]

_NOTEBOOK_ID = NOTEBOOK_ID


@dataclass(frozen=True)
class GraphChunk:
    chunk_id: str
    source_id: str
    text: str


@dataclass(frozen=True)
class GraphHit:
    chunk_id: str
    score: float


class GraphEntity(TypedDict):
    name: str
    type: str
    degree: int
    description: NotRequired[str]


class GraphRelation(TypedDict):
    source: str
    target: str
    weight: float
    description: NotRequired[str]


@dataclass(frozen=True)
class GraphView:
    entities: list[GraphEntity] = field(default_factory=list)
    relations: list[GraphRelation] = field(default_factory=list)


class GraphError(ServiceUnavailable):
    """The knowledge graph could not do what was asked (the write did not happen in full);
    a request that needed it answers 503."""


class GraphTimeout(GraphError):
    pass


class GraphInterrupted(GraphError):
    """The worker process stopped while the call was in flight."""


class KnowledgeGraph(Protocol):
    async def insert(self, notebook_id: str, chunks: Sequence[GraphChunk]) -> None: ...

    async def delete_source(
        self, notebook_id: str, source_id: str, chunk_ids: Sequence[str] = ()
    ) -> None: ...

    async def query(self, notebook_id: str, question: str, k: int = 10) -> list[GraphHit]: ...

    async def graph(
        self, notebook_id: str, *, entity: str | None = None, limit: int = 100
    ) -> GraphView: ...

    async def drop(self, notebook_id: str) -> None: ...

    async def close(self) -> None: ...


def check_notebook(notebook_id: str) -> None:
    if not isinstance(notebook_id, str) or not _NOTEBOOK_ID.fullmatch(notebook_id):
        raise ValueError("invalid notebook id")


def check_chunks(chunks: Sequence[GraphChunk]) -> None:
    for chunk in chunks:
        if not chunk.chunk_id or not isinstance(chunk.chunk_id, str):
            raise ValueError("a chunk needs an id")
        if not isinstance(chunk.source_id, str) or not isinstance(chunk.text, str):
            raise ValueError("a chunk needs a source id and a text")


def _view(payload: dict[str, Any]) -> GraphView:
    return GraphView(entities=list(payload["entities"]), relations=list(payload["relations"]))


# -- the process-backed implementation --------------------------------------------------------


class _Worker:
    """One running worker process, its pipe and the reader thread resolving replies."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, process: BaseProcess, conn: Connection
    ) -> None:
        self.loop = loop
        self.process = process
        self.conn = conn
        self.pid: int = process.pid or 0
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.dead = False
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="graph-reader", daemon=True)

    @classmethod
    def spawn(
        cls, loop: asyncio.AbstractEventLoop, config: WorkerConfig, start_timeout: float
    ) -> _Worker:
        """Start the process and wait for its first message (runs in a thread)."""
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe(duplex=True)
        process = context.Process(
            target=worker_main,
            args=(child, config),
            name="learningtool-graph",
            daemon=True,
        )
        process.start()
        child.close()
        if process.pid:  # the process that serves requests must win the cores
            cpu.lower_priority(process.pid)
        try:
            if not parent.poll(start_timeout):
                raise GraphError(f"the graph worker did not start within {start_timeout:g} s")
            kind, detail = parent.recv()
            if kind != "ready":
                raise GraphError(f"the graph worker failed to start: {detail}")
        except (EOFError, OSError):
            _stop(process, parent)
            raise GraphError("the graph worker stopped while starting") from None
        except BaseException:
            _stop(process, parent)
            raise
        worker = cls(loop, process, parent)
        worker._reader.start()
        return worker

    def _read(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                break
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self.loop.call_soon_threadsafe(self._resolve, message)
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._died)

    def _resolve(self, message: tuple[Any, ...]) -> None:
        if len(message) != 3:  # ("closed", pid) when the worker shuts down
            return
        request_id, ok, payload = message
        future = self.pending.pop(request_id, None)
        if future is None or future.done():
            return
        if ok:
            future.set_result(payload)
        else:
            kind, text = payload
            future.set_exception(ValueError(text) if kind == "ValueError" else GraphError(text))

    def _died(self) -> None:
        self.dead = True
        for future in self.pending.values():
            if not future.done():
                future.set_exception(GraphInterrupted("the graph worker stopped"))
        self.pending.clear()

    def _send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            self.conn.send(message)

    async def call(self, request_id: int, op: str, args: dict[str, Any]) -> Any:
        if self.dead:
            raise GraphInterrupted("the graph worker stopped")
        future: asyncio.Future[Any] = self.loop.create_future()
        self.pending[request_id] = future
        try:
            try:
                await asyncio.to_thread(self._send, (request_id, op, args))
            except (OSError, EOFError):
                raise GraphInterrupted("the graph worker stopped") from None
            return await future
        finally:
            self.pending.pop(request_id, None)

    def stop(self, graceful: float = 0.0) -> None:
        """Ask the worker to finish (if `graceful`), else kill it; wait for it (a thread)."""
        if graceful > 0 and not self.dead:
            with contextlib.suppress(OSError, ValueError):
                self._send((0, "shutdown", {}))
            self.process.join(graceful)
        _stop(self.process, self.conn)
        self._reader.join(5)


def _stop(process: BaseProcess, conn: Connection) -> None:
    if process.is_alive():
        process.kill()
    process.join(10)
    conn.close()


class LightRagGraph:
    """The knowledge graph in LightRAG, run by a worker process (see the module docstring).

    Bound to the event loop it is first used on."""

    def __init__(
        self,
        data_dir: Path,
        *,
        embedding_factory: Callable[[], EmbeddingSpec] = hashing_embedding,
        max_phrases: int = 8,
        cosine_threshold: float = 0.05,
        max_open_workspaces: int = 16,
        write_timeout: float = 300.0,
        read_timeout: float = 30.0,
        start_timeout: float = 60.0,
        restart_backoff: float = 10.0,
        batch_size: int = 100,
        log_level: str = "WARNING",
    ) -> None:
        self.notebooks_dir = Path(data_dir) / "notebooks"
        self.config = WorkerConfig(
            notebooks_dir=str(self.notebooks_dir),
            embedding_factory=embedding_factory,
            max_phrases=max_phrases,
            cosine_threshold=cosine_threshold,
            max_open_workspaces=max_open_workspaces,
            log_level=log_level,
        )
        self.write_timeout = write_timeout
        self.read_timeout = read_timeout
        self.start_timeout = start_timeout
        self.batch_size = max(1, batch_size)
        self._worker: _Worker | None = None
        self._starting: asyncio.Future[_Worker] | None = None
        self.restart_backoff = restart_backoff
        self._failed_at = -math.inf
        self._failure = ""
        self._ids = itertools.count(1)
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The worker process id, when one is running."""
        worker = self._worker
        return worker.pid if worker is not None and not worker.dead else None

    async def start(self) -> None:
        """Start the worker now (it otherwise starts with the first call)."""
        await self._ensure()

    async def _ensure(self) -> _Worker:
        """The running worker, started if needed. The start runs in a task of its own that a
        caller's cancellation does not stop: a cancelled start used to leave a process that
        held the data directory's lock with nobody to talk to it, and every later start failed
        with "another knowledge-graph worker uses this data directory"."""
        if self._closed:
            raise GraphError("the knowledge graph is closed")
        worker = self._worker
        if worker is not None and not worker.dead:
            return worker
        if self._starting is None or self._starting.done():
            waited = time.monotonic() - self._failed_at
            if waited < self.restart_backoff:  # fail fast, not one doomed start per call
                raise GraphError(
                    f"the graph worker could not start {waited:.0f} s ago ({self._failure}); "
                    f"it is tried again after {self.restart_backoff:g} s"
                )
            self._starting = asyncio.ensure_future(self._restart(worker))
        return await asyncio.shield(self._starting)

    async def _restart(self, old: _Worker | None) -> _Worker:
        if old is not None:
            self._worker = None
            await asyncio.to_thread(old.stop)
        loop = asyncio.get_running_loop()
        try:
            worker = await asyncio.to_thread(_Worker.spawn, loop, self.config, self.start_timeout)
        except GraphError as error:
            self._failed_at, self._failure = time.monotonic(), error.message
            raise
        if self._closed:
            await asyncio.to_thread(worker.stop)
            raise GraphError("the knowledge graph is closed")
        self._worker = worker
        return worker

    async def _call(self, op: str, args: dict[str, Any], seconds: float) -> Any:
        for attempt in (1, 2):
            worker = await self._ensure()
            try:
                async with asyncio.timeout(seconds):
                    return await worker.call(next(self._ids), op, args)
            except TimeoutError:
                await self._discard(worker)
                raise GraphTimeout(f"{op} gave up after {seconds:g} s") from None
            except GraphInterrupted:
                await self._discard(worker)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _discard(self, worker: _Worker) -> None:
        if self._worker is worker:
            self._worker = None
        worker.dead = True
        await asyncio.to_thread(worker.stop)

    async def insert(self, notebook_id: str, chunks: Sequence[GraphChunk]) -> None:
        check_notebook(notebook_id)
        check_chunks(chunks)
        for start in range(0, len(chunks), self.batch_size):
            batch = [
                (c.chunk_id, c.source_id, c.text) for c in chunks[start : start + self.batch_size]
            ]
            await self._call(
                "insert", {"notebook_id": notebook_id, "chunks": batch}, self.write_timeout
            )

    async def delete_source(
        self, notebook_id: str, source_id: str, chunk_ids: Sequence[str] = ()
    ) -> None:
        check_notebook(notebook_id)
        args = {"notebook_id": notebook_id, "source_id": source_id, "chunk_ids": list(chunk_ids)}
        await self._call("delete_source", args, self.write_timeout)

    async def query(self, notebook_id: str, question: str, k: int = 10) -> list[GraphHit]:
        check_notebook(notebook_id)
        if not question.strip() or k <= 0:
            return []
        args = {"notebook_id": notebook_id, "question": question, "k": k}
        hits = await self._call("query", args, self.read_timeout)
        return [GraphHit(chunk_id, score) for chunk_id, score in hits]

    async def graph(
        self, notebook_id: str, *, entity: str | None = None, limit: int = 100
    ) -> GraphView:
        check_notebook(notebook_id)
        args = {"notebook_id": notebook_id, "entity": entity, "limit": limit}
        return _view(await self._call("graph", args, self.read_timeout))

    async def drop(self, notebook_id: str) -> None:
        check_notebook(notebook_id)
        await self._call("drop", {"notebook_id": notebook_id}, self.write_timeout)

    async def stats(self) -> dict[str, Any]:
        """The worker's pid, open notebooks and memory (`vmrss_kib`, `vmhwm_kib`)."""
        result: dict[str, Any] = await self._call("stats", {}, self.read_timeout)
        return result

    async def close(self) -> None:
        self._closed = True
        if self._starting is not None:  # a start in flight stops its own worker (closed)
            await asyncio.gather(self._starting, return_exceptions=True)
        worker, self._worker = self._worker, None
        if worker is not None:
            await asyncio.to_thread(worker.stop, 30.0)


# -- the in-memory fake ------------------------------------------------------------------------
