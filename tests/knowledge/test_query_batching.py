"""Questions' embeddings batched across concurrent requests: a lone question goes at once,
questions that arrive while the model is busy go together, a caller that leaves takes no
one's result, a failure reaches every caller of its batch, and the real model gives a
batched question the vector it gives it alone."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from learningtool.cpu import CpuPool
from learningtool.knowledge.embed import LocalEmbedder, local_available
from learningtool.knowledge.embed.batching import QueryBatcher
from learningtool.knowledge.embed.protocol import Vectors


class ScriptedModel:
    """Embeds a text as `[len(text), batch number]`, each call held until released."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def run(self, texts: list[str]) -> Vectors:
        self.batches.append(texts)
        number = len(self.batches)
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return np.array([[len(text), number] for text in texts], dtype=np.float32)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_lone_question_goes_at_once_and_the_rest_wait_together() -> None:
    model = ScriptedModel()
    batcher = QueryBatcher(model.run, max_batch=3, max_in_flight=1)
    first = asyncio.create_task(batcher.embed("a"))
    await settle()
    assert model.batches == [["a"]]  # sent before anyone else came
    rest = [asyncio.create_task(batcher.embed("b" * n)) for n in range(1, 6)]
    await settle()
    assert model.batches == [["a"]]  # the model is busy: they wait
    model.release.set()
    results = await asyncio.gather(first, *rest)
    assert model.batches == [["a"], ["b", "bb", "bbb"], ["bbbb", "bbbbb"]]
    assert [result.shape for result in results] == [(1, 2)] * 6
    assert [result[0].tolist() for result in results] == [
        [1, 1],
        [1, 2],
        [2, 2],
        [3, 2],
        [4, 3],
        [5, 3],
    ]


async def test_questions_run_side_by_side_up_to_the_slots() -> None:
    model = ScriptedModel()
    batcher = QueryBatcher(model.run, max_batch=8, max_in_flight=2)
    together = [asyncio.create_task(batcher.embed(text)) for text in ("a", "b", "c")]
    await settle()
    assert model.batches == [["a", "b", "c"]]  # arrived in one turn of the loop
    beside = asyncio.create_task(batcher.embed("d"))
    await settle()
    assert model.batches == [["a", "b", "c"], ["d"]]  # a slot was free
    waiting = [asyncio.create_task(batcher.embed(text)) for text in ("e", "f")]
    await settle()
    assert len(model.batches) == 2  # both slots busy
    model.release.set()
    await asyncio.gather(*together, beside, *waiting)
    assert model.batches[2:] == [["e", "f"]]


async def test_a_caller_that_leaves_takes_no_ones_result() -> None:
    model = ScriptedModel()
    batcher = QueryBatcher(model.run, max_batch=8, max_in_flight=1)
    busy = asyncio.create_task(batcher.embed("busy"))
    await settle()
    leaving = asyncio.create_task(batcher.embed("gone"))
    staying = asyncio.create_task(batcher.embed("kept"))
    await settle()
    leaving.cancel()
    model.release.set()
    assert (await staying)[0].tolist() == [4, 2]
    await busy
    assert model.batches == [["busy"], ["kept"]]  # the cancelled one was never sent
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_a_failure_reaches_every_caller_of_its_batch_and_the_next_batch_runs() -> None:
    model = ScriptedModel()
    batcher = QueryBatcher(model.run, max_batch=8, max_in_flight=1)
    model.fail = RuntimeError("the model's process died")
    failing = [asyncio.create_task(batcher.embed(text)) for text in ("a", "b")]
    await settle()
    model.release.set()
    for task in failing:
        with pytest.raises(RuntimeError, match="process died"):
            await task
    model.fail = None
    assert (await batcher.embed("again"))[0].tolist() == [5, 2]


@pytest.mark.live_model
@pytest.mark.skipif(not local_available(), reason="local embedding model not installed")
async def test_the_real_model_gives_a_batched_question_its_own_vector() -> None:
    questions = [
        "How do I list the contents of an archive?",
        "What does the cell membrane do?",
        "Which editor does Git use for commit messages?",
        "Why?",
    ]
    pool = CpuPool(1)
    try:
        embedder = LocalEmbedder(pool)
        alone = [await embedder.embed_query(question) for question in questions]
        together = await asyncio.gather(*(embedder.embed_query(q) for q in questions))
        lone_tasks = LocalEmbedder(pool, query_batch_size=1)
        unbatched = await asyncio.gather(*(lone_tasks.embed_query(q) for q in questions))
    finally:
        await pool.close()
    for single, batched, one_each in zip(alone, together, unbatched, strict=True):
        assert batched.shape == (1, 384)
        np.testing.assert_allclose(batched, single, atol=1e-4)
        np.testing.assert_allclose(one_each, single, atol=1e-4)
