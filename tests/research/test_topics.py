"""Topic suggestions: made when a source is ready (offline and scripted LLM), governed by
preferences, de-duplicated by meaning, passages that prompted them; accept starts exactly one
research run (also under concurrent accepts), reject."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select

from learningtool.db import session_scope
from learningtool.jobs.worker import Worker
from learningtool.llm import create_llm_client
from learningtool.models import Job, Source
from learningtool.topics import service
from tests.conftest import Api
from tests.research.test_research import BIOLOGY, make_notebook
from tests.support.fake_openai import FakeOpenAI, completion

GEOLOGY = (
    "# Plate tectonics\n\nThe lithosphere is broken into tectonic plates that move over the "
    "asthenosphere. Plate tectonics explains earthquakes, volcanoes and mountain ranges. "
    "Where plates converge, subduction zones form deep ocean trenches. Mid-ocean ridges "
    "create new crust as plates diverge.\n"
)

VOLCANOES = (
    "# Volcanoes\n\nStratovolcanoes are built from layers of hardened lava and tephra. "
    "Magma chambers feed the eruptions; pyroclastic flows are their deadliest hazard, and "
    "lahars carry volcanic debris down river valleys.\n"
)


async def topics_of(client: AsyncClient, notebook: str, **params: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/notebooks/{notebook}/topics", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def ready_notebook(api: Api, client: AsyncClient, text: str = BIOLOGY) -> str:
    notebook = await make_notebook(client, "Notes", text)
    await Worker(api.context).drain()
    return notebook


async def test_offline_suggestions_point_at_the_passages_that_prompted_them(
    api: Api, client: AsyncClient
) -> None:
    notebook = await ready_notebook(api, client)
    topics = await topics_of(client, notebook)
    assert 1 <= len(topics) <= 3  # the default count
    assert [t["score"] for t in topics] == sorted((t["score"] for t in topics), reverse=True)
    [source] = (await client.get(f"/api/v1/notebooks/{notebook}/sources")).json()
    text = (await client.get(f"/api/v1/notebooks/{notebook}/sources/{source['id']}/text")).text
    for topic in topics:
        assert topic["status"] == "pending"
        assert topic["engine"] == "offline"
        assert topic["question"].startswith("What ") and topic["question"].endswith("?")
        assert topic["source_id"] == source["id"]
        assert topic["passages"], topic
        subject = topic["question"].split("\u201c")[1].split("\u201d")[0]  # the quoted term
        for passage in topic["passages"]:
            span = text[passage["start_char"] : passage["end_char"]]
            assert span.startswith(passage["text"])
            assert subject.split()[0][:4] in span.lower()  # the passage mentions the subject
    assert len({t["question"] for t in topics}) == len(topics)


async def test_preferences_govern_suggestions(api: Api, client: AsyncClient) -> None:
    notebook = (await client.post("/api/v1/notebooks", json={"name": "Geo"})).json()["id"]
    url = f"/api/v1/notebooks/{notebook}/topic-preferences"
    defaults = (await client.get(url)).json()
    assert defaults == {"enabled": True, "count": 3, "min_score": 0.0, "preferred_domains": []}
    for bad in ({"count": 0}, {"count": 6}, {"min_score": 1.5}, {"preferred_domains": ["no"]}):
        response = await client.put(url, json=bad)
        assert response.status_code == 422, bad
    changed = await client.put(
        url, json={"count": 1, "preferred_domains": ["https://USGS.gov/", "usgs.gov", "nasa.gov"]}
    )
    assert changed.json() == {
        "enabled": True, "count": 1, "min_score": 0.0,
        "preferred_domains": ["usgs.gov", "nasa.gov"],
    }  # fmt: skip
    await client.post(f"/api/v1/notebooks/{notebook}/sources", json={"text": GEOLOGY})
    await Worker(api.context).drain()
    assert len(await topics_of(client, notebook)) == 1

    await client.put(url, json={"enabled": False})
    await client.post(f"/api/v1/notebooks/{notebook}/sources", json={"text": BIOLOGY})
    await Worker(api.context).drain()
    assert len(await topics_of(client, notebook)) == 1  # none for the new source

    await client.put(url, json={"enabled": True, "count": 5, "min_score": 0.99})
    added = await client.post(f"/api/v1/notebooks/{notebook}/sources", json={"text": VOLCANOES})
    await Worker(api.context).drain()
    new = [
        t
        for t in await topics_of(client, notebook)
        if t["source_id"] == added.json()["source"]["id"]
    ]
    assert len(new) == 1, new  # of up to 5, only the best one reaches the minimum score
    assert new[0]["score"] >= 0.99


async def test_same_meaning_is_suggested_once(api: Api, client: AsyncClient) -> None:
    notebook = await ready_notebook(api, client)
    before = await topics_of(client, notebook)
    async with session_scope(api.context.sessions) as session:
        source = await session.scalar(select(Source).where(Source.notebook_id == notebook))
        assert source is not None
        subject = before[0]["question"].split("\u201c")[1].split("\u201d")[0]
        drafts = [
            service.Suggestion(subject, f"Tell me more about {subject}", "", 1.0, "offline"),
            service.Suggestion(subject, f"Why is {subject} important?", "", 1.0, "offline"),
            service.Suggestion("volcanic arcs", "What are volcanic arcs?", "", 1.0, "offline"),
        ]
        fresh = await service._unseen(session, api.context, notebook, drafts)
    assert [d.subject for d in fresh] == ["volcanic arcs"]

    # the same material again (another hash) brings no topic already there
    await client.post(f"/api/v1/notebooks/{notebook}/sources", json={"text": BIOLOGY + "\n."})
    await Worker(api.context).drain()
    after = await topics_of(client, notebook)
    questions = [t["question"] for t in after]
    assert len(set(questions)) == len(questions)
    assert {t["id"] for t in before} <= {t["id"] for t in after}


async def test_concurrent_accepts_start_exactly_one_run(api: Api, client: AsyncClient) -> None:
    notebook = await ready_notebook(api, client)
    topic = (await topics_of(client, notebook))[0]
    url = f"/api/v1/notebooks/{notebook}/topics/{topic['id']}"
    first, second = await asyncio.gather(
        client.post(f"{url}/accept", json={"effort": "low"}), client.post(f"{url}/accept")
    )
    assert first.status_code == second.status_code == 202, (first.text, second.text)
    runs = {first.json()["run"]["id"], second.json()["run"]["id"]}
    assert len(runs) == 1
    assert sorted([first.json()["created"], second.json()["created"]]) == [False, True]
    async with session_scope(api.context.sessions) as session:
        jobs = await session.scalar(
            select(func.count()).select_from(Job).where(Job.kind == "research.run")
        )
    assert jobs == 1
    assert (await client.get(url)).json()["status"] == "accepted"
    assert (await client.post(f"{url}/reject")).status_code == 409

    await Worker(api.context).drain()
    assert (await client.get(url)).json()["status"] == "done"
    [run_id] = runs
    run = (await client.get(f"/api/v1/notebooks/{notebook}/research/{run_id}")).json()
    assert run["topic_id"] == topic["id"] and run["status"] == "done"
    again = await client.post(f"{url}/accept")
    assert again.json()["run"]["id"] == run_id and again.json()["created"] is False


async def test_reject_and_errors(api: Api, client: AsyncClient) -> None:
    notebook = await ready_notebook(api, client)
    topic = (await topics_of(client, notebook))[0]
    url = f"/api/v1/notebooks/{notebook}/topics/{topic['id']}"
    rejected = await client.post(f"{url}/reject")
    assert rejected.json()["status"] == "rejected"
    assert [t["id"] for t in await topics_of(client, notebook, status="rejected")] == [topic["id"]]
    assert topic["id"] not in {t["id"] for t in await topics_of(client, notebook, status="pending")}
    assert (await client.post(f"{url}/accept", json={"effort": "huge"})).status_code == 422
    assert (await client.get(f"/api/v1/notebooks/{notebook}/topics/missing")).status_code == 404
    async with api.client(await api.new_user("eve")) as other:
        assert (await other.get(url)).status_code == 404
        assert (await other.post(f"{url}/accept")).status_code == 404
        assert (await other.get(f"/api/v1/notebooks/{notebook}/topics")).status_code == 404


LLM_TOPICS = {
    "topics": [
        {"question": "How does RuBisCO's oxygenase activity cause photorespiration?",
         "why": "The notes name RuBisCO but not its side reaction.", "score": 0.9,
         "passages": [1]},
        {"question": "What is a made-up passage about?", "why": "It cites nothing real.",
         "score": 0.8, "passages": [42]},
    ]
}  # fmt: skip


async def test_llm_suggestions_keep_only_those_with_real_passages(
    api: Api, client: AsyncClient
) -> None:
    notebook = await make_notebook(client, "Notes", BIOLOGY)
    await Worker(api.context, kinds=["source.ingest"]).drain()
    async with FakeOpenAI() as server:
        server.script(completion(json.dumps(LLM_TOPICS)))
        api.context.llm = await create_llm_client(api.context.settings.model_copy(update={
            "llm_provider": "openai", "llm_base_url": server.base_url, "llm_api_key": "k",
            "llm_model": "fake-model", "llm_max_retries": 0,
        }))  # fmt: skip
        await Worker(api.context, kinds=["topics.suggest"]).drain()
        assert len(server.requests) == 1
        [prompt] = server.requests[0].content("user")
    # A title is data (a web page's <title> can say anything): it sits inside the delimiters.
    title = prompt.split('<source id="title">\n', 1)[1].split("\n</source>", 1)[0]
    assert title and title in prompt.split("Passage 1", 1)[0]
    [topic] = await topics_of(client, notebook)
    assert topic["engine"] == "llm"
    assert topic["question"].startswith("How does RuBisCO")
    assert topic["score"] == 0.9
    assert "RuBisCO" in topic["passages"][0]["text"]
