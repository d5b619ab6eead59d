"""Making LightRAG hold what the ledger says for the entities and relations a write touched.

LightRAG keys chunks by the MD5 of their content and its custom-KG path gives an entity exactly
one source chunk and overwrites a node on each call; so after `ainsert_custom_kg` every touched
entity and relation is rewritten from the ledger (all its chunks, its co-occurrence weight, the
first sentence where it occurs), or removed when no chunk has it any more.
"""

from __future__ import annotations

import time
from typing import Any

from learningtool.knowledge.graph_worker.ledger import Change, Ledger, pairs

ENTITY_TYPE = "keyphrase"
RELATION_KEYWORDS = "co-occurrence"
SEP = "<SEP>"  # lightrag.constants.GRAPH_FIELD_SEP, checked when the worker starts


async def apply(rag: Any, ledger: Ledger, change: Change) -> None:
    """Make LightRAG hold what the ledger says for the touched entities and relations:
    the batch (our chunk id -> content) goes through `ainsert_custom_kg`, then every touched
    entity and relation is rewritten (or removed) from the ledger, LightRAG chunks no
    longer used are deleted and everything is flushed to disk."""
    from lightrag.utils import compute_mdhash_id, make_relation_vdb_ids  # type: ignore[import-untyped]

    graph = rag.chunk_entity_relation_graph
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
        if (edge_of(existing_edges, p) or {}).get("lt_first_chunk") != c
    }
    texts = await _texts(rag, ledger, needed, batch)

    def describe_entity(e: str) -> str:
        node = existing_nodes.get(e) or {}
        first = firsts[e]
        if node.get("lt_first_chunk") == first and node.get("description"):
            return str(node["description"])
        return sentence(texts.get(first, ""), e) or f"Key phrase: {e}"

    def describe_pair(p: tuple[str, str]) -> str:
        edge = edge_of(existing_edges, p) or {}
        first = pair_firsts[p]
        if edge.get("lt_first_chunk") == first and edge.get("description"):
            return str(edge["description"])
        return sentence(texts.get(first, ""), *p) or f"{p[0]} and {p[1]} appear together"

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
        old_desc = (edge_of(existing_edges, p) or {}).get("description")
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


async def _texts(rag: Any, ledger: Ledger, cids: set[str], batch: dict[str, str]) -> dict[str, str]:
    texts = {c: batch[c] for c in cids if c in batch}
    missing = {c: ledger.chunks[c].lr_id for c in cids if c not in batch}
    ids = sorted({lr for lr in missing.values() if lr is not None})
    if ids:
        rows = await rag.text_chunks.get_by_ids(ids)
        by_id = {i: (row or {}).get("content", "") for i, row in zip(ids, rows, strict=True)}
        for c, lr in missing.items():
            if lr is not None:
                texts[c] = by_id.get(lr, "")
    return texts


# reads


def edge_of(
    edges: dict[tuple[str, str], dict[str, Any]], pair: tuple[str, str]
) -> dict[str, Any] | None:
    return edges.get(pair) or edges.get((pair[1], pair[0]))


def sentence(text: str, *phrases: str) -> str | None:
    from learningtool.knowledge import keyphrases

    return keyphrases.snippet(text, *phrases)


async def _skip_flush() -> None:
    return None
