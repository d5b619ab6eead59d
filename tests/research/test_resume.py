"""A research run whose worker process is killed (SIGKILL) mid-run continues from its last
checkpoint in another worker: the finished steps (plan, the parallel searches) are not run
again, only the step that was running (reflect)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from httpx import AsyncClient

from learningtool.jobs.worker import Worker
from learningtool.llm import create_llm_client
from tests.conftest import Api
from tests.jobs.test_worker_process import start_worker
from tests.research.test_research import (
    BIOLOGY,
    PLAN,
    REFLECT,
    REPORT,
    assert_citations_hold,
    start,
)
from tests.support.fake_openai import FakeOpenAI, Reply, completion

pytestmark = pytest.mark.slow


def llm_env(base_url: str) -> dict[str, str]:
    return {
        "LEARNINGTOOL_LLM_PROVIDER": "openai",
        "LEARNINGTOOL_LLM_BASE_URL": base_url,
        "LEARNINGTOOL_LLM_API_KEY": "k",
        "LEARNINGTOOL_LLM_MODEL": "fake-model",
        "LEARNINGTOOL_LLM_MAX_RETRIES": "0",
    }


async def test_killed_research_resumes_from_its_checkpoint(
    api: Api, client: AsyncClient, tmp_path: Path
) -> None:
    notebook = (await client.post("/api/v1/notebooks", json={"name": "Bio"})).json()["id"]
    await client.post(f"/api/v1/notebooks/{notebook}/sources", json={"text": BIOLOGY})
    await Worker(api.context).drain()
    async with FakeOpenAI() as server:
        server.script(completion(PLAN), Reply(hang=True))  # reflect never answers
        run_id = (await start(client, notebook, effort="medium"))["run"]["id"]
        worker = await start_worker(api, tmp_path / "worker.log", llm_env(server.base_url))
        try:
            async with asyncio.timeout(60):
                while len(server.requests) < 2:  # plan answered, searches done, reflecting
                    assert worker.returncode is None, (tmp_path / "worker.log").read_text()
                    await asyncio.sleep(0.05)
        finally:
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
        before = (await client.get(f"/api/v1/notebooks/{notebook}/research/{run_id}")).json()
        assert before["status"] == "researching"

        server.script(completion(REFLECT), completion(REPORT))
        api.context.llm = await create_llm_client(api.context.settings.model_copy(update={
            "llm_provider": "openai", "llm_base_url": server.base_url, "llm_api_key": "k",
            "llm_model": "fake-model", "llm_max_retries": 0,
        }))  # fmt: skip
        async with asyncio.timeout(60):  # the dead worker's lease expires, then it is ours
            while not await Worker(api.context, kinds=["research.run"]).drain():
                await asyncio.sleep(0.2)
        prompts = [r.body["messages"][0]["content"] for r in server.requests]

    run = (await client.get(f"/api/v1/notebooks/{notebook}/research/{run_id}")).json()
    assert run["status"] == "done", run
    assert len(prompts) == 4  # plan, reflect (killed), reflect again, report
    assert sum("plan the searches" in p for p in prompts) == 1  # planned once
    steps = [event["step"] for event in run["events"]]
    assert steps.count("plan") == 1
    assert steps.count("search") == 2  # the two planned queries, searched once each
    assert steps[-1] == "report"
    await assert_citations_hold(client, notebook, run)
