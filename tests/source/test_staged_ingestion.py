"""A source is useful before it is ready: once its text is cut, it is readable, in the feed
and found by lexical search, while its embeddings and graph are made; `ready` brings the
vector search and the study material. A job run again replaces what the first stored."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from learningtool.jobs.worker import Worker
from learningtool.source import tasks as source_tasks
from tests.conftest import Api

TEXT = (
    "# Photosynthesis\n\nThe Calvin cycle fixes carbon dioxide into sugars in the stroma of "
    "the chloroplast. RuBisCO is the enzyme of carbon fixation in the Calvin cycle.\n"
)


async def _hits(client: AsyncClient, notebook: str, mode: str) -> list[str]:
    found = await client.get(
        f"/api/v1/notebooks/{notebook}/search", params={"q": "RuBisCO enzyme", "mode": mode}
    )
    return [passage["text"] for passage in found.json()["passages"]]


async def test_a_source_is_read_and_searched_by_its_words_while_it_is_indexed(
    api: Api, client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = (await client.post("/api/v1/notebooks", json={"name": "Early"})).json()["id"]
    base = f"/api/v1/notebooks/{notebook}"
    source = (await client.post(f"{base}/sources", json={"text": TEXT})).json()["source"]["id"]
    index_chunks = source_tasks.index.index_chunks
    seen: dict[str, Any] = {}

    async def look_first(*args: Any) -> int:
        seen["source"] = (await client.get(f"{base}/sources/{source}")).json()
        seen["text"] = (await client.get(f"{base}/sources/{source}/text")).text
        seen["lexical"] = await _hits(client, notebook, "lexical")
        seen["vector"] = await _hits(client, notebook, "vector")
        feed = (await client.get(f"{base}/feed", params={"kind": "chunk"})).json()
        seen["feed"] = [item["body"] for item in feed["items"]]
        return await index_chunks(*args)

    monkeypatch.setattr(source_tasks.index, "index_chunks", look_first)
    await Worker(api.context).drain()

    assert seen["source"]["status"] == "indexing" and seen["source"]["searchable"] is True
    assert "RuBisCO is the enzyme" in seen["text"]
    assert any("RuBisCO" in text for text in seen["lexical"])
    assert seen["vector"] == []  # not embedded yet
    assert any("RuBisCO" in body for body in seen["feed"])
    ready = (await client.get(f"{base}/sources/{source}")).json()
    assert (ready["status"], ready["searchable"]) == ("ready", True)
    assert any("RuBisCO" in text for text in await _hits(client, notebook, "vector"))
    cards = (await client.get(f"{base}/study-items")).json()
    assert cards, "the study job ran once the source was ready"


async def test_a_job_run_again_replaces_the_chunks_an_attempt_stored(
    api: Api, client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt dies after storing its chunks (as a killed worker would leave
    them); the retry stores them again, once."""
    notebook = (await client.post("/api/v1/notebooks", json={"name": "Again"})).json()["id"]
    base = f"/api/v1/notebooks/{notebook}"
    source = (await client.post(f"{base}/sources", json={"text": TEXT})).json()["source"]["id"]
    index_chunks = source_tasks.index.index_chunks
    attempts: list[int] = []

    async def die_once(*args: Any) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise source_tasks.JobError("the worker went away")
        return await index_chunks(*args)

    monkeypatch.setattr(source_tasks.index, "index_chunks", die_once)
    api.context.settings.job_backoff_seconds = 0.0
    await Worker(api.context).drain()
    assert len(attempts) == 2
    ready = (await client.get(f"{base}/sources/{source}")).json()
    assert ready["status"] == "ready", ready
    chunks = (await client.get(f"{base}/sources/{source}/chunks")).json()["items"]
    assert [chunk["ordinal"] for chunk in chunks] == list(range(len(chunks)))
    feed = (await client.get(f"{base}/feed", params={"kind": "chunk"})).json()["items"]
    assert len(feed) == len(chunks)
