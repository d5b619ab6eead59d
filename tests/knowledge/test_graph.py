"""The knowledge graph: a real LightRAG worker process per test, driven from the test's event
loop under blockbuster (so every call proves the service side never blocks)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from learningtool import cpu
from learningtool.knowledge.graph import (
    EmbeddingSpec,
    GraphChunk,
    GraphError,
    GraphTimeout,
    GraphView,
    KnowledgeGraph,
    LightRagGraph,
    hashing_embedding,
)
from tests.support.fake_graph import FakeGraph

PHOTOSYNTHESIS = (
    "Photosynthesis is the process by which green plants use light energy to make glucose. "
    "Chlorophyll in the chloroplasts absorbs sunlight, and water is split to release oxygen."
)
MITOCHONDRIA = (
    "Mitochondria are the powerhouses of the cell. Through cellular respiration they break "
    "down glucose and produce ATP, releasing carbon dioxide and water."
)
CALVIN = (
    "The Calvin cycle takes place in the stroma of the chloroplast. The enzyme RuBisCO fixes "
    "carbon dioxide into organic molecules, using ATP and NADPH from the light reactions."
)
PLATE_TECTONICS = (
    "Plate tectonics describes how the lithosphere is broken into plates. Subduction zones "
    "form ocean trenches and volcanic arcs where one plate sinks below another."
)
BIOLOGY = [
    GraphChunk("chunkphoto", "srcplants", PHOTOSYNTHESIS),
    GraphChunk("chunkmito", "srccells", MITOCHONDRIA),
    GraphChunk("chunkcalvin", "srcplants", CALVIN),
]


@pytest.fixture
async def graph(tmp_path: Path) -> AsyncIterator[LightRagGraph]:
    knowledge = LightRagGraph(tmp_path / "data", write_timeout=120, read_timeout=60)
    try:
        yield knowledge
    finally:
        await knowledge.close()


def exploding_embedding() -> EmbeddingSpec:
    """The default embedding, except that any text containing EXPLODE fails (runs in the
    worker process, which imports this module to build it)."""
    base = hashing_embedding()

    async def embed(texts: list[str], **_: object) -> object:
        if any("EXPLODE" in text for text in texts):
            raise RuntimeError("the embedding model failed")
        return await base.embed(texts)

    return EmbeddingSpec(dim=base.dim, embed=embed, name="exploding")


def names(view: GraphView) -> set[str]:
    return {entity["name"] for entity in view.entities}


def edges(view: GraphView) -> dict[frozenset[str], float]:
    return {frozenset((r["source"], r["target"])): r["weight"] for r in view.relations}


async def test_graph_has_key_phrases_their_co_occurrence_and_degrees(
    graph: LightRagGraph,
) -> None:
    await graph.insert("nb1", BIOLOGY)
    view = await graph.graph("nb1", limit=500)

    assert {"calvin cycle", "carbon dioxide", "mitochondria", "photosynthesis"} <= names(view)
    relations = edges(view)
    assert frozenset(("calvin cycle", "chloroplast")) in relations  # same paragraph
    assert frozenset(("calvin cycle", "mitochondria")) not in relations  # never together
    assert all(weight == 1.0 for weight in relations.values())
    for entity in view.entities:  # the whole graph is shown: degree = its relations
        incident = sum(1 for pair in relations if entity["name"] in pair)
        assert entity["degree"] == incident > 0
        assert entity["type"] == "keyphrase"
    calvin = next(e for e in view.entities if e["name"] == "calvin cycle")
    assert (
        calvin.get("description")
        == "The Calvin cycle takes place in the stroma of the chloroplast."
    )

    around = await graph.graph("nb1", entity="Calvin Cycle", limit=4)
    assert around.entities[0]["name"] == "calvin cycle"
    assert len(around.entities) == 4
    assert all("calvin cycle" in pair or len(pair) == 2 for pair in edges(around))
    assert {n for pair in edges(around) for n in pair} <= names(around)
    assert await graph.graph("nb1", entity="no such thing") == GraphView()


async def test_query_returns_our_chunk_ids_best_first(graph: LightRagGraph) -> None:
    await graph.insert("nb1", BIOLOGY)

    hits = await graph.query("nb1", "what fixes carbon dioxide", k=3)
    assert hits[0].chunk_id == "chunkcalvin"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert {h.chunk_id for h in hits} <= {c.chunk_id for c in BIOLOGY}

    hits = await graph.query("nb1", "Where is ATP made in the cell?", k=3)
    assert hits[0].chunk_id == "chunkmito"
    assert await graph.query("nb1", "   ", k=3) == []
    assert await graph.query("empty", "carbon dioxide", k=3) == []


async def test_insert_is_idempotent_and_weights_count_chunks(graph: LightRagGraph) -> None:
    twin = GraphChunk("chunkcalvin2", "srcother", CALVIN)  # same text, another chunk
    await graph.insert("nb1", [*BIOLOGY, twin])
    first = await graph.graph("nb1", limit=500)
    await graph.insert("nb1", [*BIOLOGY, twin])
    await graph.insert("nb1", BIOLOGY[2:])
    again = await graph.graph("nb1", limit=500)

    assert again == first
    assert len(names(again)) == len(again.entities)
    assert edges(again)[frozenset(("calvin cycle", "chloroplast"))] == 2.0
    hits = await graph.query("nb1", "what fixes carbon dioxide", k=2)
    assert {h.chunk_id for h in hits} == {"chunkcalvin", "chunkcalvin2"}


async def test_notebooks_are_isolated(graph: LightRagGraph) -> None:
    await asyncio.gather(
        graph.insert("nbA", BIOLOGY),
        graph.insert("nbB", [GraphChunk("chunkplates", "srcgeo", PLATE_TECTONICS)]),
    )
    ids_a = {c.chunk_id for c in BIOLOGY}
    for question in ["what fixes carbon dioxide", "mitochondria ATP", "photosynthesis glucose"]:
        hits = await graph.query("nbB", question, k=10)
        assert not ids_a & {h.chunk_id for h in hits}
    assert "calvin cycle" not in names(await graph.graph("nbB", limit=500))
    hits = await graph.query("nbA", "subduction zones and ocean trenches", k=10)
    assert "chunkplates" not in {h.chunk_id for h in hits}


async def test_delete_source_removes_its_chunks_contribution(graph: LightRagGraph) -> None:
    shared = GraphChunk(
        "chunkglucose", "srccells", "Glucose feeds the chloroplast and the Calvin cycle."
    )
    await graph.insert("nb1", [*BIOLOGY, shared])
    before = await graph.graph("nb1", limit=500)
    assert edges(before)[frozenset(("calvin cycle", "chloroplast"))] == 2.0

    await graph.delete_source("nb1", "srccells", ["chunkmito"])
    after = await graph.graph("nb1", limit=500)

    assert "mitochondria" not in names(after)
    assert "cellular respiration" not in names(after)
    assert {"calvin cycle", "photosynthesis"} <= names(after)
    assert edges(after)[frozenset(("calvin cycle", "chloroplast"))] == 1.0
    for entity in after.entities:  # no description quotes a deleted chunk
        assert "Mitochondria" not in entity.get("description", "")
        assert "Glucose feeds" not in entity.get("description", "")
    for question in ["mitochondria powerhouses ATP", "glucose feeds the chloroplast"]:
        hits = await graph.query("nb1", question, k=10)
        assert not {"chunkmito", "chunkglucose"} & {h.chunk_id for h in hits}
    # Deleting again, or a source that never was, changes nothing.
    await graph.delete_source("nb1", "srccells")
    await graph.delete_source("nb1", "nosuchsource", ["nosuchchunk"])
    assert await graph.graph("nb1", limit=500) == after


async def test_drop_removes_the_workspace(graph: LightRagGraph, tmp_path: Path) -> None:
    folder = tmp_path / "data" / "notebooks" / "nb1" / "graph"
    await graph.insert("nb1", BIOLOGY)
    assert await asyncio.to_thread(folder.is_dir)

    await graph.drop("nb1")
    assert not await asyncio.to_thread(folder.exists)
    assert await graph.query("nb1", "carbon dioxide", k=5) == []
    assert await graph.graph("nb1") == GraphView()
    assert not await asyncio.to_thread(folder.exists)  # reads do not create it again

    await graph.insert("nb1", BIOLOGY[:1])  # a fresh start, nothing revived
    assert "calvin cycle" not in names(await graph.graph("nb1", limit=500))
    await graph.drop("nb1")
    await graph.drop("nb1")


async def test_concurrent_inserts_into_one_notebook_all_land(graph: LightRagGraph) -> None:
    await asyncio.gather(*(graph.insert("nb1", [chunk]) for chunk in BIOLOGY))
    view = await graph.graph("nb1", limit=500)
    assert {"photosynthesis", "mitochondria", "calvin cycle"} <= names(view)
    for question, chunk_id in [
        ("what fixes carbon dioxide", "chunkcalvin"),
        ("mitochondria powerhouses", "chunkmito"),
        ("green plants photosynthesis", "chunkphoto"),
    ]:
        assert (await graph.query("nb1", question, k=1))[0].chunk_id == chunk_id


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no process priorities here")
async def test_the_worker_yields_the_cores_to_the_server(graph: LightRagGraph) -> None:
    await graph.insert("nb1", BIOLOGY[:1])
    assert graph.pid is not None
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, graph.pid) == min(19, ours + cpu.NICENESS)


async def test_a_killed_worker_is_replaced_by_the_next_call(graph: LightRagGraph) -> None:
    await graph.insert("nb1", BIOLOGY)
    first = graph.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)

    hits = await graph.query("nb1", "what fixes carbon dioxide", k=3)
    assert hits[0].chunk_id == "chunkcalvin"  # the data was on disk
    assert graph.pid not in (None, first)
    await graph.insert("nb1", [GraphChunk("chunkplates", "srcgeo", PLATE_TECTONICS)])
    assert "subduction zone" in names(await graph.graph("nb1", limit=500))


async def test_a_call_cancelled_while_the_worker_starts_leaves_it_usable(
    graph: LightRagGraph,
) -> None:
    """A cancelled first call (a lost job lease, a client gone) used to orphan the process
    it was starting, which kept the data directory's lock: every later start failed."""
    first = asyncio.create_task(graph.query("nb1", "anything"))
    await asyncio.sleep(0.2)  # the worker process is starting (it takes seconds)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await graph.insert("nb1", BIOLOGY)
    assert (await graph.query("nb1", "what fixes carbon dioxide", k=1))[0].chunk_id == (
        "chunkcalvin"
    )


async def test_an_overrunning_call_times_out_and_the_worker_restarts(
    graph: LightRagGraph,
) -> None:
    await graph.start()
    first = graph.pid
    graph.write_timeout = 0.001
    with pytest.raises(GraphTimeout):
        await graph.insert("nb1", BIOLOGY)
    graph.write_timeout = 120
    await graph.insert("nb1", BIOLOGY)
    assert graph.pid not in (None, first)
    assert (await graph.query("nb1", "what fixes carbon dioxide", k=1))[0].chunk_id == (
        "chunkcalvin"
    )


async def test_a_failed_write_raises(graph: LightRagGraph, tmp_path: Path) -> None:
    blocker = tmp_path / "data" / "notebooks" / "nbbad"
    await asyncio.to_thread(blocker.mkdir, parents=True)
    await asyncio.to_thread((blocker / "graph").write_text, "not a folder")

    with pytest.raises(GraphError):
        await graph.insert("nbbad", BIOLOGY)
    await graph.insert("nb1", BIOLOGY)  # the worker is still fine
    assert await graph.query("nb1", "carbon dioxide", k=1)


async def test_a_failed_write_is_redone_or_undone_by_the_next_write(tmp_path: Path) -> None:
    knowledge = LightRagGraph(tmp_path / "data", embedding_factory=exploding_embedding)
    try:
        await knowledge.insert("nb1", BIOLOGY)
        before = await knowledge.graph("nb1", limit=500)
        bad = GraphChunk("chunkbad", "srcbad", "Volcanic EXPLODE eruptions release sulfur gases.")
        with pytest.raises(GraphError, match="embedding model failed"):
            await knowledge.insert("nb1", [bad])
        # Reads still work (until the next write they may show what the failed one wrote).
        assert (await knowledge.query("nb1", "what fixes carbon dioxide", k=1))[0].chunk_id == (
            "chunkcalvin"
        )
        # The caller deletes the source it could not index: every trace of it goes.
        await knowledge.delete_source("nb1", "srcbad", ["chunkbad"])
        assert await knowledge.graph("nb1", limit=500) == before
        await knowledge.insert("nb1", [GraphChunk("chunkplates", "srcgeo", PLATE_TECTONICS)])
        assert "subduction zone" in names(await knowledge.graph("nb1", limit=500))
    finally:
        await knowledge.close()


async def test_notebooks_closed_to_save_memory_reopen_from_their_files(tmp_path: Path) -> None:
    knowledge = LightRagGraph(tmp_path / "data", max_open_workspaces=1)
    try:
        await knowledge.insert("nbA", BIOLOGY[:2])
        view_a = await knowledge.graph("nbA", limit=500)
        await knowledge.insert("nbB", [GraphChunk("chunkplates", "srcgeo", PLATE_TECTONICS)])
        assert (await knowledge.stats())["open"] == ["nbB"]
        assert await knowledge.graph("nbA", limit=500) == view_a
        await knowledge.insert("nbA", BIOLOGY[2:])
        await knowledge.delete_source("nbB", "srcgeo")
        assert await knowledge.graph("nbB") == GraphView()
        assert "calvin cycle" in names(await knowledge.graph("nbA", limit=500))
    finally:
        await knowledge.close()


async def test_bad_input_is_refused_before_reaching_the_worker(graph: LightRagGraph) -> None:
    with pytest.raises(ValueError):
        await graph.insert("../escape", BIOLOGY)
    with pytest.raises(ValueError):
        await graph.query("nb 1", "x", k=1)
    with pytest.raises(ValueError):
        await graph.insert("nb1", [GraphChunk("", "src", "text")])
    assert graph.pid is None


async def test_memory_stats(graph: LightRagGraph) -> None:
    await graph.insert("nb1", BIOLOGY)
    stats = await graph.stats()
    assert stats["pid"] == graph.pid
    assert stats["open"] == ["nb1"]
    assert 0 < stats["vmrss_kib"] < 2_000_000


async def test_fake_graph_has_the_same_behaviour(tmp_path: Path) -> None:
    fake: KnowledgeGraph = FakeGraph(tmp_path)
    await fake.insert("nb1", BIOLOGY)
    await fake.insert("nb1", BIOLOGY)
    view = await fake.graph("nb1", limit=500)
    assert "calvin cycle" in names(view)
    assert frozenset(("calvin cycle", "chloroplast")) in edges(view)
    assert (await fake.query("nb1", "what fixes carbon dioxide", k=3))[0].chunk_id == (
        "chunkcalvin"
    )
    assert (await fake.graph("nb1", entity="Calvin cycle", limit=3)).entities[0]["name"] == (
        "calvin cycle"
    )
    await fake.delete_source("nb1", "srccells")
    assert "mitochondria" not in names(await fake.graph("nb1", limit=500))
    assert await fake.query("nb2", "carbon dioxide") == []
    await fake.drop("nb1")
    assert await fake.graph("nb1") == GraphView()
    await fake.close()


def test_both_implementations_satisfy_the_protocol(tmp_path: Path) -> None:
    implementations: list[KnowledgeGraph] = [LightRagGraph(tmp_path), FakeGraph()]
    assert len(implementations) == 2
