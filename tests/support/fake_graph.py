"""An in-memory `KnowledgeGraph` for tests of other parts: the same offline semantics as
`LightRagGraph` (key phrases as entities, co-occurrence as relations, hits by word overlap)
without its worker process."""

from __future__ import annotations

import asyncio
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from learningtool.knowledge.graph import (
    GraphChunk,
    GraphEntity,
    GraphHit,
    GraphRelation,
    GraphView,
    check_chunks,
    check_notebook,
)
from learningtool.knowledge.graph_worker.ledger import pairs


@dataclass
class _FakeNotebook:
    chunks: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)


class FakeGraph:
    """An in-memory `KnowledgeGraph` with the same offline semantics (key phrases as
    entities, co-occurrence as relations, hits by word overlap), for tests of other parts.
    Key phrases are extracted in a thread."""

    def __init__(self, data_dir: Path | None = None, *, max_phrases: int = 8) -> None:
        self.data_dir = data_dir
        self.max_phrases = max_phrases
        self.notebooks: dict[str, _FakeNotebook] = {}
        self.fail_next_write: Exception | None = None

    def _fail(self) -> None:
        if self.fail_next_write is not None:
            error, self.fail_next_write = self.fail_next_write, None
            raise error

    async def insert(self, notebook_id: str, chunks: Sequence[GraphChunk]) -> None:
        check_notebook(notebook_id)
        check_chunks(chunks)
        self._fail()
        from learningtool.knowledge import keyphrases

        limit = self.max_phrases
        texts = [c.text for c in chunks]
        found = await asyncio.to_thread(
            lambda: [tuple(keyphrases.extract(t, limit)) for t in texts]
        )
        notebook = self.notebooks.setdefault(notebook_id, _FakeNotebook())
        for chunk, phrases in zip(chunks, found, strict=True):
            notebook.chunks[chunk.chunk_id] = (chunk.source_id, phrases)

    async def delete_source(
        self, notebook_id: str, source_id: str, chunk_ids: Sequence[str] = ()
    ) -> None:
        check_notebook(notebook_id)
        self._fail()
        notebook = self.notebooks.get(notebook_id)
        if notebook is None:
            return
        gone = set(chunk_ids) | {c for c, (s, _) in notebook.chunks.items() if s == source_id}
        for chunk_id in gone:
            notebook.chunks.pop(chunk_id, None)

    async def query(self, notebook_id: str, question: str, k: int = 10) -> list[GraphHit]:
        check_notebook(notebook_id)
        notebook = self.notebooks.get(notebook_id)
        if notebook is None or not notebook.chunks or k <= 0:
            return []
        from learningtool.knowledge import keyphrases

        words = set(await asyncio.to_thread(keyphrases.query_tokens, question))
        if not words:
            return []
        total = len(notebook.chunks)
        frequency: dict[str, int] = {}
        for _, phrases in notebook.chunks.values():
            for phrase in phrases:
                frequency[phrase] = frequency.get(phrase, 0) + 1
        scores: dict[str, float] = {}
        for chunk_id, (_, phrases) in notebook.chunks.items():
            score = 0.0
            for phrase in phrases:
                phrase_words = set(phrase.split())
                overlap = len(phrase_words & words)
                if overlap:
                    match = overlap / len(phrase_words) * math.sqrt(overlap / len(words))
                    score += match * math.log(1 + total / frequency[phrase])
            if score > 0:
                scores[chunk_id] = score
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [GraphHit(chunk_id, round(score, 6)) for chunk_id, score in ranked]

    async def graph(
        self, notebook_id: str, *, entity: str | None = None, limit: int = 100
    ) -> GraphView:
        check_notebook(notebook_id)
        notebook = self.notebooks.get(notebook_id)
        if notebook is None:
            return GraphView()
        weights: dict[tuple[str, str], int] = {}
        names: set[str] = set()
        for _, phrases in notebook.chunks.values():
            names.update(phrases)
            for pair in pairs(phrases):
                weights[pair] = weights.get(pair, 0) + 1
        degree = dict.fromkeys(names, 0)
        for a, b in weights:
            degree[a] += 1
            degree[b] += 1
        if entity is not None:
            from learningtool.knowledge import keyphrases

            center = keyphrases.normalise_phrase(entity)
            if center not in names:
                return GraphView()
            around = sorted(
                ((b if a == center else a, w) for (a, b), w in weights.items() if center in (a, b)),
                key=lambda item: (-item[1], item[0]),
            )
            chosen = [center] + [n for n, _ in around[: max(0, limit - 1)]]
        else:
            chosen = sorted(names, key=lambda n: (-degree[n], n))[: max(1, limit)]
        keep = set(chosen)
        entities = [GraphEntity(name=n, type="keyphrase", degree=degree[n]) for n in chosen]
        relations = [
            GraphRelation(source=a, target=b, weight=float(w))
            for (a, b), w in sorted(weights.items(), key=lambda item: (-item[1], item[0]))
            if a in keep and b in keep
        ]
        return GraphView(entities=entities, relations=relations)

    async def drop(self, notebook_id: str) -> None:
        check_notebook(notebook_id)
        self.notebooks.pop(notebook_id, None)
        if self.data_dir is not None:
            folder = self.data_dir / "notebooks" / notebook_id / "graph"
            await asyncio.to_thread(shutil.rmtree, folder, True)

    async def close(self) -> None:
        self.notebooks.clear()
