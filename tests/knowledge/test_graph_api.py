"""The knowledge graph through the service: built at ingestion (LightRAG in its worker
process), searched, shown, and purged with its notebook."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient

from learningtool.config import Settings
from learningtool.jobs.worker import Worker
from tests.conftest import Api

TEXT = (
    "# Photosynthesis\n\nThe Calvin cycle fixes carbon dioxide into sugars in the stroma of "
    "the chloroplast. RuBisCO is the enzyme of carbon fixation in the Calvin cycle.\n\n"
    "## Light reactions\n\nThe light reactions in the thylakoid membrane make ATP and NADPH "
    "for the Calvin cycle.\n"
)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"graph_enabled": True})


@pytest.fixture
async def notebook(api: Api, client: AsyncClient) -> AsyncIterator[str]:
    notebook = (await client.post("/api/v1/notebooks", json={"name": "Graph"})).json()["id"]
    await client.post(f"/api/v1/notebooks/{notebook}/sources", json={"text": TEXT})
    await Worker(api.context).drain()
    yield notebook


async def test_graph_is_built_searched_and_shown(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    view = (await client.get(f"/api/v1/notebooks/{notebook}/graph")).json()
    names = {entity["name"] for entity in view["entities"]}
    assert "calvin cycle" in names and view["relations"]
    assert all(entity["degree"] >= 1 for entity in view["entities"])
    around = (
        await client.get(f"/api/v1/notebooks/{notebook}/graph", params={"entity": "calvin cycle"})
    ).json()
    assert around["entities"][0]["name"] == "calvin cycle"

    found = (
        await client.get(
            f"/api/v1/notebooks/{notebook}/search",
            params={"q": "What does the Calvin cycle fix?", "mode": "graph"},
        )
    ).json()["passages"]
    assert found and "fixes carbon dioxide" in found[0]["text"]
    hybrid = (
        await client.get(
            f"/api/v1/notebooks/{notebook}/search", params={"q": "Calvin cycle carbon dioxide"}
        )
    ).json()["passages"]
    assert "graph" in hybrid[0]["ranks"]


async def test_deleting_the_notebook_drops_its_graph(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    folder = api.context.settings.notebooks_dir / notebook / "graph"
    assert await asyncio.to_thread(folder.exists)
    await client.delete(f"/api/v1/notebooks/{notebook}")
    await Worker(api.context).drain()
    assert not await asyncio.to_thread(folder.exists)
