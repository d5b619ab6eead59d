"""Research runs through the API: offline engine end to end, report back into the notebook
(feed, source, cards), cancel and retry, events, isolation, and a scripted LLM loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text

from learningtool.jobs.worker import Worker
from learningtool.llm import create_llm_client
from learningtool.models import ResearchRun
from learningtool.research.agent.report import unmapped
from tests.conftest import Api
from tests.research.web_server import Hit, page, searxng, web_server
from tests.research.web_server import Reply as WebReply
from tests.support.fake_openai import FakeOpenAI, Reply, completion
from tests.support.sse import read_events

BIOLOGY = (
    "# Photosynthesis\n\nThe Calvin cycle fixes carbon dioxide into sugars in the stroma of "
    "the chloroplast. The enzyme RuBisCO catalyses the first step of the Calvin cycle, "
    "binding carbon dioxide to ribulose bisphosphate.\n\n"
    "## Light reactions\n\nThe light reactions take place in the thylakoid membranes, where "
    "chlorophyll absorbs light and water is split, releasing oxygen.\n\n"
    "## Respiration\n\nMitochondria release the energy stored in glucose as ATP through "
    "cellular respiration, which consumes oxygen.\n"
)
HISTORY = "# Revolution\n\nThe Bastille was stormed in Paris on 14 July 1789 by a crowd.\n"
QUESTION = "How does RuBisCO take part in the Calvin cycle?"
WEB_PAGE_TEXT = (
    "RuBisCO also reacts with oxygen instead of carbon dioxide, which starts photorespiration "
    "and wastes part of the energy of the Calvin cycle."
)
WEB_PAGE = f"<h1>Photorespiration</h1><p>{WEB_PAGE_TEXT}</p>"


async def make_notebook(client: AsyncClient, name: str, text: str) -> str:
    notebook = (await client.post("/api/v1/notebooks", json={"name": name})).json()["id"]
    added = await client.post(f"/api/v1/notebooks/{notebook}/sources", json={"text": text})
    assert added.status_code == 202, added.text
    return notebook


async def start(client: AsyncClient, notebook: str, **body: Any) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/notebooks/{notebook}/research", json={"question": QUESTION, **body}
    )
    assert response.status_code == 202, response.text
    return response.json()


async def run_of(client: AsyncClient, notebook: str, run_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/notebooks/{notebook}/research/{run_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def source_text(client: AsyncClient, notebook: str, source_id: str) -> str:
    return (await client.get(f"/api/v1/notebooks/{notebook}/sources/{source_id}/text")).text


async def assert_citations_hold(client: AsyncClient, notebook: str, run: dict[str, Any]) -> None:
    """Every [n] maps to a citation, and each passage citation's quote and span are exact
    slices of a source of this notebook."""
    assert run["citations"], run["report"]
    assert unmapped(run["report"], run["citations"]) == []
    sources = {s["id"] for s in (await client.get(f"/api/v1/notebooks/{notebook}/sources")).json()}
    for citation in run["citations"]:
        assert citation["kind"] == "passage"
        assert citation["source_id"] in sources
        text = await source_text(client, notebook, citation["source_id"])
        quote = text[citation["quote_start_char"] : citation["quote_end_char"]]
        assert quote == citation["quote"]
        assert citation["start_char"] <= citation["quote_start_char"]
        assert citation["quote_end_char"] <= citation["end_char"]
        assert f"[{citation['n']}]" in run["report"]
        assert citation["quotes"] and citation["quotes"][0]["text"] == citation["quote"]
        for used in citation["quotes"]:
            assert text[used["start_char"] : used["end_char"]] == used["text"]
            if run["engine"] == "offline":  # an extractive report quotes: the very sentence
                assert " ".join(used["text"].split()) in " ".join(run["report"].split())


async def test_offline_research_cites_the_notebook_and_comes_back_as_a_source(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    started = await start(client, notebook, effort="low")
    assert started["created"] is True
    assert started["run"]["status"] == "queued"
    assert started["job"]["kind"] == "research.run"
    await Worker(api.context).drain()

    run = await run_of(client, notebook, started["run"]["id"])
    assert run["status"] == "done", run
    assert run["engine"] == "offline"
    assert "RuBisCO catalyses the first step of the Calvin cycle" in run["report"]
    assert "Written without a language model" in run["report"]
    assert "Bastille" not in run["report"]  # another notebook is never searched
    await assert_citations_hold(client, notebook, run)

    feed = (await client.get(f"/api/v1/notebooks/{notebook}/feed?kind=research")).json()
    [item] = feed["items"]
    detail = (await client.get(f"/api/v1/notebooks/{notebook}/feed/{item['id']}")).json()
    assert detail["detail"]["report"] == run["report"]

    report = await client.get(f"/api/v1/notebooks/{notebook}/sources/{run['source_id']}")
    assert report.json()["kind"] == "research"
    assert report.json()["status"] == "ready"  # the drain ingested it too
    assert report.json()["tags"] == ["research"]
    chunks = (
        await client.get(f"/api/v1/notebooks/{notebook}/sources/{run['source_id']}/chunks")
    ).json()
    assert chunks["items"], "the report was not chunked"
    items = (
        await client.get(f"/api/v1/notebooks/{notebook}/study-items?source_id={run['source_id']}")
    ).json()
    assert any(i["kind"] == "flashcard" for i in items), items

    export = (await client.get(f"/api/v1/notebooks/{notebook}/export")).text
    research = export.index("## Research")
    assert export.index("#### Study material") < research  # the source's cards, summary
    assert "**Flashcards**" in export and "**Summary.**" in export
    assert f"### 1. {QUESTION}" in export[research:]
    assert "#### Sources" in export[research:]  # the report's citations, demoted
    assert export.count("Written without a language model") == 1  # the report shown once
    report_text = await source_text(client, notebook, run["source_id"])
    assert "RuBisCO catalyses the first step" in report_text  # the findings ...
    assert "language model" not in report_text and "## Sources" not in report_text  # only


async def test_events_stream_the_steps_then_done(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    started = await start(client, notebook, effort="medium")
    run_id = started["run"]["id"]
    worker = asyncio.create_task(Worker(api.context).drain())
    async with client.stream("GET", f"/api/v1/notebooks/{notebook}/research/{run_id}/events") as r:
        events = await read_events(r)
    await worker
    steps = [data["step"] for kind, data in events if kind == "progress"]
    assert steps[0] == "plan" and steps[-1] == "report"
    assert "search" in steps and "reflect" in steps
    plan = next(data for kind, data in events if kind == "progress")
    assert plan["queries"][0] == QUESTION
    searched = [data for kind, data in events if kind == "progress" and data["step"] == "search"]
    assert {s["query"] for s in searched} >= set(plan["queries"])
    assert events[-1][0] == "done" and events[-1][1]["status"] == "done"

    # a reconnecting client gets only what it has not seen
    async with client.stream(
        "GET",
        f"/api/v1/notebooks/{notebook}/research/{run_id}/events",
        headers={"Last-Event-ID": str(len(steps) - 2)},
    ) as again:
        lines = [line async for line in again.aiter_lines() if line.startswith("event:")]
    assert lines == ["event: progress", "event: done"]


async def test_cancel_then_retry_finishes_the_run(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    started = await start(client, notebook)
    run_id = started["run"]["id"]
    base = f"/api/v1/notebooks/{notebook}/research/{run_id}"
    cancelled = await client.post(f"{base}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert (await client.post(f"{base}/cancel")).status_code == 409
    await Worker(api.context).drain()
    assert (await run_of(client, notebook, run_id))["status"] == "cancelled"

    retried = await client.post(f"{base}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "queued"
    await Worker(api.context).drain()
    run = await run_of(client, notebook, run_id)
    assert run["status"] == "done"
    assert (await client.post(f"{base}/retry")).status_code == 409


async def test_bad_requests_and_other_users(api: Api, client: AsyncClient, notebook: str) -> None:
    base = f"/api/v1/notebooks/{notebook}/research"
    for body in ({"question": ""}, {"question": "x" * 3000}, {"question": "a", "effort": "max"}):
        response = await client.post(base, json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "invalid_input"
    run_id = (await start(client, notebook))["run"]["id"]
    assert (await client.get(f"{base}/nope")).status_code == 404
    async with api.client(await api.new_user("mallory")) as other:
        assert (await other.get(base)).status_code == 404
        assert (await other.get(f"{base}/{run_id}")).status_code == 404
        assert (await other.post(f"{base}/{run_id}/cancel")).status_code == 404
        assert (await other.get(f"{base}/{run_id}/events")).status_code == 404
        assert (await other.post(base, json={"question": "steal"})).status_code == 404
    listed = (await client.get(base)).json()
    assert [r["id"] for r in listed] == [run_id]


PLAN = json.dumps({"queries": ["RuBisCO Calvin cycle", "carbon fixation enzyme"]})
REFLECT = json.dumps({"sufficient": True, "gaps": [], "follow_up_queries": []})
REPORT = (
    "# RuBisCO in the Calvin cycle\n\nRuBisCO catalyses the first step of the Calvin cycle "
    "[1]. It binds carbon dioxide [1][7].\n\n## What the sources do not cover\n\nNothing.\n\n"
    "## References\n\n- [1] made up\n"
)


async def test_scripted_llm_plans_reflects_and_writes_a_checked_report(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    async with FakeOpenAI() as server:
        server.script(completion(PLAN), completion(REFLECT), completion(REPORT))
        api.context.llm = await create_llm_client(api.context.settings.model_copy(update={
            "llm_provider": "openai", "llm_base_url": server.base_url, "llm_api_key": "k",
            "llm_model": "fake-model", "llm_max_retries": 0,
        }))  # fmt: skip
        started = await start(client, notebook, effort="medium")
        await Worker(api.context, kinds=["research.run"]).drain()
        assert len(server.requests) == 3
        assert server.unexpected == 0

    run = await run_of(client, notebook, started["run"]["id"])
    assert run["status"] == "done", run
    assert run["engine"] == "llm"
    assert "[7]" not in run["report"]  # a number naming no source is dropped ...
    assert any("not shown" in w for w in run["warnings"])  # ... and said
    assert "made up" not in run["report"]  # the model's own reference list is replaced
    assert "## Sources" in run["report"]
    await assert_citations_hold(client, notebook, run)
    assert "RuBisCO" in run["citations"][0]["quote"]
    assert run["usage"]["calls"] == 3
    assert run["usage"]["input_tokens"] > 0
    reflect_prompt = server.requests[1].body["messages"][-1]["content"]
    assert "RuBisCO catalyses the first step" in reflect_prompt  # it saw what was found


async def test_web_evidence_is_cited_with_url_title_and_quote(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    async with web_server() as provider, web_server() as pages:
        pages.route("GET", "/photorespiration", page("Photorespiration", WEB_PAGE))
        hit = Hit(pages.url("/photorespiration"), "Photorespiration", "RuBisCO and oxygen")
        provider.route("GET", "/search", searxng([hit]))
        api.context.settings = api.context.settings.model_copy(update={
            "web_search_provider": "searxng", "web_search_base_url": provider.base,
            "fetch_allow_loopback": True,
        })  # fmt: skip
        started = await start(client, notebook, effort="low")
        offline_only = await start(client, notebook, effort="low", use_web=False)
        await Worker(api.context, kinds=["research.run"]).drain()
        searched = len(provider.requests)
        provider.route("GET", "/search", WebReply(500, b"down"))
        failing = await start(client, notebook, effort="low")
        await Worker(api.context, kinds=["research.run"]).drain()

    run = await run_of(client, notebook, started["run"]["id"])
    assert run["status"] == "done", run
    web = [c for c in run["citations"] if c["kind"] == "web"]
    assert web, run["report"]
    assert web[0]["url"] == hit.url and web[0]["title"] == "Photorespiration"
    assert web[0]["quote"] in WEB_PAGE_TEXT
    assert f"]({hit.url})" in run["report"]  # the Sources list links the page
    assert unmapped(run["report"], run["citations"]) == []
    assert searched == len(run["events"]) - 3  # one provider call per query: not for use_web=false
    other = await run_of(client, notebook, offline_only["run"]["id"])
    assert all(c["kind"] == "passage" for c in other["citations"])
    broken = await run_of(client, notebook, failing["run"]["id"])
    assert broken["status"] == "done" and broken["citations"]
    assert any("web search failed" in w for w in broken["warnings"]), broken["warnings"]


async def test_cancelling_a_running_run_stops_it_and_stores_nothing(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    async with FakeOpenAI() as server:
        server.script(completion(PLAN), Reply(hang=True))  # stuck in reflect
        api.context.llm = await create_llm_client(api.context.settings.model_copy(update={
            "llm_provider": "openai", "llm_base_url": server.base_url, "llm_api_key": "k",
            "llm_model": "fake-model", "llm_max_retries": 0, "llm_timeout_seconds": 60,
        }))  # fmt: skip
        started = await start(client, notebook)
        run_id, job_id = started["run"]["id"], started["job"]["id"]
        worker = asyncio.create_task(Worker(api.context).run())
        try:
            async with asyncio.timeout(30):
                while len(server.requests) < 2:
                    await asyncio.sleep(0.05)
            cancelled = await client.post(f"/api/v1/notebooks/{notebook}/research/{run_id}/cancel")
            assert cancelled.json()["status"] == "cancelled"
            async with asyncio.timeout(30):  # the worker lets go at its next heartbeat
                while (await client.get(f"/api/v1/jobs/{job_id}")).json()["state"] != "cancelled":
                    await asyncio.sleep(0.1)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
    run = await run_of(client, notebook, run_id)
    assert run["status"] == "cancelled" and run["report"] is None and run["source_id"] is None
    feed = (await client.get(f"/api/v1/notebooks/{notebook}/feed?kind=research")).json()
    assert feed["items"] == []


async def test_deleting_the_notebook_drops_its_runs_and_checkpoints(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    run_id = (await start(client, notebook, effort="low"))["run"]["id"]
    await Worker(api.context).drain()
    count = text("SELECT count(*) FROM checkpoints WHERE thread_id = :run")
    async with api.context.sessions() as session:
        assert await session.scalar(count, {"run": run_id}) > 0
    assert (await client.delete(f"/api/v1/notebooks/{notebook}")).status_code == 202
    await Worker(api.context).drain()
    async with api.context.sessions() as session:
        assert await session.scalar(count, {"run": run_id}) == 0
        assert await session.get(ResearchRun, run_id) is None


async def test_the_web_asked_for_where_none_is_configured_is_a_clear_422(
    api: Api, client: AsyncClient
) -> None:
    notebook = await make_notebook(client, "No web", "Mitochondria make ATP for the cell.")
    refused = await client.post(
        f"/api/v1/notebooks/{notebook}/research",
        json={"question": "How do cells make energy?", "use_web": True},
    )
    assert refused.status_code == 422
    assert "WEB_SEARCH_PROVIDER" in refused.json()["error"]["message"]
    plain = await start(client, notebook, question="How do cells make energy?")
    assert plain["run"]["use_web"] is False  # not asked: the web only where a provider is set
    runs = (await client.get(f"/api/v1/notebooks/{notebook}/research")).json()
    assert len(runs) == 1  # the refused request left nothing behind
