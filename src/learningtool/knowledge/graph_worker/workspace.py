"""One notebook in the worker: its LightRAG instance and ledger, and the writes (insert,
delete, redo) that keep them in step through the ledger's write-ahead record."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from learningtool.knowledge.graph_worker import reconcile, scoring, view
from learningtool.knowledge.graph_worker.config import WorkerConfig
from learningtool.knowledge.graph_worker.ledger import Change, Ledger, pairs


class Workspace:
    """A notebook's LightRAG instance and ledger. The host serialises writes; when a write
    fails, the host discards this object (in-memory state and unflushed buffers) so that the
    next call starts again from the files, i.e. from the last write that completed."""

    def __init__(self, notebook_id: str, folder: Path, rag: Any, config: WorkerConfig) -> None:
        self.notebook_id = notebook_id
        self.folder = folder
        self.rag = rag
        self.config = config
        self.ledger_path = folder / "ledger.json"
        self.ledger = Ledger.load(self.ledger_path)
        self.active = 0
        self._token_index: dict[str, set[str]] | None = None

    # writes

    async def insert(self, chunks: list[tuple[str, str, str]]) -> dict[str, int]:
        from lightrag.utils import (  # type: ignore[import-untyped]
            compute_mdhash_id,
            normalize_entity_name,
            sanitize_text_for_encoding,
        )

        latest: dict[str, tuple[str, str]] = {}
        for cid, source_id, text in chunks:
            latest[cid] = (source_id, text)
        contents = {cid: sanitize_text_for_encoding(text) for cid, (_, text) in latest.items()}
        limit = self.config.max_phrases

        def extract_all() -> dict[str, tuple[str, ...]]:
            from learningtool.knowledge import keyphrases

            found: dict[str, tuple[str, ...]] = {}
            for cid, content in contents.items():
                names: dict[str, None] = {}
                for phrase in keyphrases.extract(content, limit):
                    name = normalize_entity_name(phrase)
                    if name:
                        names.setdefault(name, None)
                found[cid] = tuple(names)
            return found

        phrases = await asyncio.to_thread(extract_all)
        change = Change(batch={cid: contents[cid] for cid in latest if contents[cid]})
        self._token_index = None
        for cid, (source_id, _) in latest.items():
            self._subtract(cid, change)
            content = contents[cid]
            lr_id = compute_mdhash_id(content, prefix="chunk-") if content else None
            self.ledger.put(cid, source_id, lr_id, phrases[cid])
            change.touched.update(phrases[cid])
            change.pairs |= pairs(phrases[cid])
        await self._commit(change)
        return {"chunks": len(latest), "entities": len(change.touched)}

    async def delete(self, source_id: str, chunk_ids: list[str]) -> dict[str, int]:
        cids = set(chunk_ids) | self.ledger.by_source.get(source_id, set())
        change = Change()
        self._token_index = None
        for cid in cids:
            self._subtract(cid, change)
            self.ledger.remove(cid)
        await self._commit(change)
        return {"chunks": len(cids), "entities": len(change.touched)}

    async def recover(self) -> None:
        """Redo the write that did not complete, if any."""
        if self.ledger.pending is not None:
            await self._commit(Change())

    def _subtract(self, cid: str, change: Change) -> None:
        old = self.ledger.chunks.get(cid)
        if old is not None:
            change.touched.update(old.phrases)
            change.pairs |= pairs(old.phrases)
            if old.lr_id is not None:
                change.lr_ids.add(old.lr_id)

    async def _commit(self, change: Change) -> None:
        """Record `change` (merged with an unfinished earlier one) ahead of writing it, apply
        it to LightRAG, then clear the record. A failure leaves the record for the next write:
        every chunk that may be in LightRAG stays known to the ledger."""
        ledger = self.ledger
        if ledger.pending is not None:
            change = ledger.pending.merge(change)
        change.batch = {c: text for c, text in change.batch.items() if c in ledger.chunks}
        ledger.pending = change
        await asyncio.to_thread(ledger.save, self.ledger_path)
        await reconcile.apply(self.rag, ledger, change)
        ledger.pending = None
        await asyncio.to_thread(ledger.save, self.ledger_path)

    # reads

    async def query(self, question: str, k: int) -> list[tuple[str, float]]:
        if self._token_index is None:
            self._token_index = scoring.token_index(self.ledger)
        return await scoring.query(self.rag, self.ledger, self._token_index, question, k)

    async def view(self, entity: str | None, limit: int) -> dict[str, list[dict[str, Any]]]:
        return await view.view(self.rag, entity, limit)
