"""The research graph under `langgraph dev` (never with `--allow-blocking`): a run on the
offline engine completes through `/runs/wait` over a real notebook of the app's database,
and a run started through our API completes in the app's worker, with no `BlockingError`,
with `BG_JOB_ISOLATED_LOOPS` unset and set to `true` (each run on a loop of its own)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from learningtool.research.agent.report import unmapped
from tests.research.test_research import BIOLOGY, QUESTION
from tests.test_langgraph_dev import (
    JOB_TIMEOUT,
    REPO,
    _server_env,
    _truncate_postgres,
    langgraph_dev,
    wait_until_healthy,
)

pytestmark = pytest.mark.slow


@pytest.fixture(
    params=[("sqlite", None), ("sqlite", "true"), ("postgresql", "true")],
    ids=["sqlite-shared-loop", "sqlite-isolated-loops", "postgresql-isolated-loops"],
)
def server_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    backend, isolated = request.param
    database: dict[str, str] = {}
    if backend == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        _truncate_postgres(url)
        database = {"LEARNINGTOOL_DATABASE_URL": url}
    env = _server_env(tmp_path / "data", database)
    env["LEARNINGTOOL_EMBEDDING_PROVIDER"] = "hashing"
    env["LEARNINGTOOL_GRAPH_ENABLED"] = "false"
    if isolated:
        env["BG_JOB_ISOLATED_LOOPS"] = isolated
    return env


async def wait_for(
    http: httpx.AsyncClient, path: str, auth: dict[str, str], key: str, *done: str
) -> dict[str, Any]:
    async with asyncio.timeout(JOB_TIMEOUT):
        while (body := (await http.get(path, headers=auth)).json())[key] not in done:
            assert body[key] not in ("failed", "cancelled"), body
            await asyncio.sleep(0.2)
    return body


async def exercise_research(http: httpx.AsyncClient, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    notebook = (await http.post("/api/v1/notebooks", json={"name": "Bio"}, headers=auth)).json()
    base = f"/api/v1/notebooks/{notebook['id']}"
    added = (await http.post(f"{base}/sources", json={"text": BIOLOGY}, headers=auth)).json()
    await wait_for(http, f"{base}/sources/{added['source']['id']}", auth, "status", "ready")
    chunks = (await http.get(f"{base}/sources/{added['source']['id']}/chunks", headers=auth)).json()
    chunk_ids = {c["id"] for c in chunks["items"]}

    response = await http.post("/runs/wait", json={
        "assistant_id": "research",
        "input": {"question": QUESTION, "effort": "low"},
        "config": {"configurable": {"notebook_id": notebook["id"]}},
    }, timeout=JOB_TIMEOUT)  # fmt: skip
    assert response.status_code == 200, response.text
    output = response.json()
    assert output["engine"] == "offline"
    assert output["citations"], output
    assert {c["chunk_id"] for c in output["citations"]} <= chunk_ids
    assert unmapped(output["report"], output["citations"]) == []

    brought = await http.post("/runs/wait", json={
        "assistant_id": "research",
        "input": {"question": "What do tardigrades survive?"},
        "config": {"configurable": {"passages": [
            {"title": "Tardigrades",
             "text": "Tardigrades survive freezing, radiation and the vacuum of space."}
        ]}},
    }, timeout=JOB_TIMEOUT)  # fmt: skip
    assert brought.status_code == 200, brought.text
    assert "vacuum of space" in brought.json()["report"]

    started = await http.post(f"{base}/research", json={"question": QUESTION}, headers=auth)
    assert started.status_code == 202, started.text
    run = await wait_for(
        http, f"{base}/research/{started.json()['run']['id']}", auth, "status", "done"
    )
    assert run["citations"] and unmapped(run["report"], run["citations"]) == []


async def test_research_runs_under_langgraph_dev_without_blocking(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    assert not tmp_path.is_relative_to(REPO)
    workdir = tmp_path / "cwd"
    await asyncio.to_thread(workdir.mkdir)
    async with langgraph_dev(workdir, server_env) as server:
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
                await wait_until_healthy(server, http)
                token_file = tmp_path / "data" / "local-token"
                token = (await asyncio.to_thread(token_file.read_text)).strip()
                await exercise_research(http, token)
        finally:
            await server.stop()
            print(await server.output())
    output = await server.output()
    assert "You've set --allow-blocking" not in output
    assert "BlockingError" not in output
    assert "Traceback" not in output
