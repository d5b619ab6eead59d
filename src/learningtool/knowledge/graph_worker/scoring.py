"""Queries without an LLM and without LightRAG's `aquery`: LightRAG's `kg_query` modes need an
LLM (or keywords) and return chunks without scores, so the worker reads LightRAG's storages
directly. Entity matches (by words, and by the entity vectors) credit their chunks by idf,
the strongest neighbours of the best entities add a share (graph expansion), and the chunk
vectors add their similarity: 0.65 * graph score (scaled to 0..1) + 0.35 * similarity.
"""

from __future__ import annotations

import math
from typing import Any

from learningtool.knowledge.graph_worker.ledger import Ledger

GRAPH_WEIGHT = 0.65
VECTOR_WEIGHT = 0.35
NEIGHBOUR_FACTOR = 1 / 3
EXPANDED_ENTITIES = 5
NEIGHBOURS = 10
MATCHED_ENTITIES = 30


def token_index(ledger: Ledger) -> dict[str, set[str]]:
    """Each word of an entity name -> the entity names with it."""
    index: dict[str, set[str]] = {}
    for name in ledger.by_phrase:
        for token in set(name.split()):
            index.setdefault(token, set()).add(name)
    return index


async def query(
    rag: Any, ledger: Ledger, index: dict[str, set[str]], question: str, k: int
) -> list[tuple[str, float]]:
    """Our chunk ids best matching `question`, with scores (see the package's docstring:
    entity matches weighted by idf, graph expansion, then the chunk vectors). `index` is
    `token_index(ledger)`, kept by the workspace between writes."""
    from learningtool.knowledge import keyphrases

    total = len(ledger.chunks)
    if total == 0 or k <= 0:
        return []
    words = keyphrases.query_tokens(question)
    wordset = set(words)

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
    for hit in await rag.chunks_vdb.query(question, top_k=max(4 * k, 20), query_embedding=vector):
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
