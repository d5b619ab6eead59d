"""Chat with `research: true`: the research run goes first (its progress streamed as
`research` events), then the answer cites the notebook passages its report cited."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient

from learningtool.chat import service as chat_service
from learningtool.jobs.worker import Worker
from tests.conftest import Api
from tests.research.test_research import QUESTION
from tests.support.sse import read_events


@pytest.fixture
async def worker(api: Api) -> AsyncIterator[None]:
    """A worker running alongside the test (the app's own is off in tests)."""
    task = asyncio.create_task(Worker(api.context).run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def chat_of(client: AsyncClient, notebook: str) -> str:
    return (await client.post(f"/api/v1/notebooks/{notebook}/chat/sessions", json={})).json()["id"]


async def test_research_mode_streams_progress_then_answers_from_the_report(
    api: Api, client: AsyncClient, notebook: str, worker: None
) -> None:
    chat = await chat_of(client, notebook)
    url = f"/api/v1/notebooks/{notebook}/chat/sessions/{chat}/messages"
    body = {"content": QUESTION, "stream": True, "research": True}
    async with asyncio.timeout(60), client.stream("POST", url, json=body) as response:
        events = await read_events(response)
    names = [n for n, _ in events]
    assert names[-1] == "done", events
    research = [data for n, data in events if n == "research"]
    steps = [r["step"] for r in research]
    assert steps[0] == "queued" and "plan" in steps and steps[-1] == "report"
    assert names.index("retrieved") > max(i for i, n in enumerate(names) if n == "research")

    run_id = research[0]["run_id"]
    run = (await client.get(f"/api/v1/notebooks/{notebook}/research/{run_id}")).json()
    assert run["status"] == "done"
    reported = {c["chunk_id"] for c in run["citations"]}
    history = (await client.get(url)).json()["messages"]
    answer = history[-1]
    assert answer["status"] == "complete"
    assert answer["meta"]["research"]["run_id"] == run_id
    assert answer["citations"], answer
    assert {c["chunk_id"] for c in answer["citations"]} <= reported
    assert "RuBisCO" in answer["content"]


async def test_research_mode_as_json(
    api: Api, client: AsyncClient, notebook: str, worker: None
) -> None:
    chat = await chat_of(client, notebook)
    url = f"/api/v1/notebooks/{notebook}/chat/sessions/{chat}/messages"
    async with asyncio.timeout(60):
        response = await client.post(url, json={"content": QUESTION, "research": True})
    assert response.status_code == 200, response.text
    answer = response.json()["answer"]
    assert answer["meta"]["research"]["status"] == "done"
    assert answer["citations"]


async def test_research_mode_without_a_worker_answers_from_the_notebook(
    client: AsyncClient, notebook: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat_service, "RESEARCH_WAIT_SECONDS", 0.5)
    chat = await chat_of(client, notebook)
    url = f"/api/v1/notebooks/{notebook}/chat/sessions/{chat}/messages"
    response = await client.post(url, json={"content": QUESTION, "research": True})
    answer = response.json()["answer"]
    assert answer["status"] == "complete"
    assert answer["meta"]["research"]["status"] == "timeout"
    assert answer["citations"]  # from the notebook's own search
    run = (await client.get(f"/api/v1/notebooks/{notebook}/research")).json()[0]
    assert run["status"] == "queued"  # it is still waiting for a worker, not lost
