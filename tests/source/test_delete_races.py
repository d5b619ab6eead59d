"""Deleting a source while other work on it is under way loses nothing and leaves nothing.

Repros from the outside audit: a delete followed at once by a re-add of the same bytes lost
the re-added source's file to the purge (8 of 40 rounds), and a delete while the source was
indexing left its text in the knowledge graph."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select

from learningtool.config import Settings
from learningtool.jobs.worker import Worker
from learningtool.models import Job
from learningtool.source import service as source_service
from learningtool.source import tasks as source_tasks
from tests.conftest import Api

TEXT = (
    "# Photosynthesis\n\nThe Calvin cycle fixes carbon dioxide into sugars in the stroma of "
    "the chloroplast. RuBisCO is the enzyme of carbon fixation in the Calvin cycle.\n"
)


async def _notebook(client: AsyncClient) -> str:
    response = await client.post("/api/v1/notebooks", json={"name": "Races"})
    return str(response.json()["id"])


async def _blobs(api: Api, notebook: str) -> list[str]:
    folder = api.context.settings.notebooks_dir / notebook / "blobs"
    return sorted(await asyncio.to_thread(lambda: [p.name for p in folder.iterdir()]))


async def test_purge_of_a_deleted_source_spares_its_re_added_twin(
    api: Api, client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving that lost data: delete; re-add the same bytes; the purge runs after
    the re-add stored its file and before its row is visible."""
    notebook = await _notebook(client)
    base = f"/api/v1/notebooks/{notebook}/sources"
    first = (await client.post(base, json={"text": TEXT})).json()["source"]
    await Worker(api.context).drain()
    assert (await client.delete(f"{base}/{first['id']}")).status_code == 202
    insert = source_service._insert

    async def purge_first(*args: Any) -> Any:
        await _run_one(api, "source.purge_files")
        return await insert(*args)

    monkeypatch.setattr(source_service, "_insert", purge_first)
    again = await client.post(base, json={"text": TEXT})
    assert again.status_code == 202 and not again.json()["duplicate"]
    monkeypatch.undo()
    await Worker(api.context).drain()
    second = (await client.get(f"{base}/{again.json()['source']['id']}")).json()
    assert second["status"] == "ready", second["error"]
    assert await _blobs(api, notebook) == [second["id"]]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_delete_and_re_add_in_a_loop_with_the_worker_running(
    api: Api, client: AsyncClient
) -> None:
    notebook = await _notebook(client)
    base = f"/api/v1/notebooks/{notebook}/sources"
    worker = asyncio.create_task(Worker(api.context).run())
    try:
        current = (await client.post(base, json={"text": TEXT})).json()["source"]["id"]
        for _ in range(15):
            await client.delete(f"{base}/{current}")
            current = (await client.post(base, json={"text": TEXT})).json()["source"]["id"]
        states = await _settle(api, client, base)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert states == {current: "ready"}
    assert await _blobs(api, notebook) == [current]


async def _settle(api: Api, client: AsyncClient, base: str) -> dict[str, str]:
    """Wait until no job is pending; the final states of the sources."""
    for _ in range(400):
        async with api.context.sessions() as session:
            busy = await session.scalar(
                select(func.count()).select_from(Job).where(Job.state.in_(("queued", "running")))
            )
        if not busy:
            sources = (await client.get(base)).json()
            return {s["id"]: s["status"] for s in sources}
        await asyncio.sleep(0.05)
    raise AssertionError("the jobs did not settle")


class TestDeleteWhileIndexing:
    pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"graph_enabled": True})

    async def test_leaves_nothing_in_the_graph(
        self, api: Api, client: AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The delete commits and its purge runs while the ingestion job is inside the graph
        step (after its purge, the graph insert lands)."""
        notebook = await _notebook(client)
        base = f"/api/v1/notebooks/{notebook}/sources"
        source = (await client.post(base, json={"text": TEXT})).json()["source"]["id"]
        index_chunks = source_tasks.index.index_chunks

        async def delete_first(*args: Any) -> int:
            await client.delete(f"{base}/{source}")
            await _run_one(api, "source.purge_files")
            return await index_chunks(*args)

        monkeypatch.setattr(source_tasks.index, "index_chunks", delete_first)
        await Worker(api.context).drain()
        view = (await client.get(f"/api/v1/notebooks/{notebook}/graph")).json()
        assert view.get("entities") == [] and view.get("relations") == [], view
        assert await _blobs(api, notebook) == []


async def _run_one(api: Api, kind: str) -> None:
    worker = Worker(api.context)
    for job in await worker.claim_many(10):
        if job.kind == kind:
            await worker.execute(job)
            return
    raise AssertionError(f"no {kind} job to claim")
