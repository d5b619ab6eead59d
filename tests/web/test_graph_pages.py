"""The graph page over HTTP, on the in-memory graph (`tests/support/fake_graph.py`, the same
offline semantics as LightRAG's without its worker process): the entities and relations
listed and handed to the drawing script, an entity's neighbourhood with the passages that
mention it (linked to the passage page, the mention highlighted), an unknown entity with the
closest names, a disabled or failing graph said in words, another user's notebook a 404."""

from __future__ import annotations

import json
import re

from httpx import AsyncClient

from learningtool.jobs.worker import Worker
from learningtool.knowledge.graph import GraphError, GraphView
from learningtool.web.graph import mention_span
from tests.conftest import Api
from tests.support.fake_graph import FakeGraph
from tests.web.test_notebook_pages import csrf_of
from tests.web.test_sign_in import signed_in
from tests.web.test_source_pages import notebook_of

TEXT = (
    "# Photosynthesis\n\nThe Calvin cycle fixes carbon dioxide into sugars in the stroma of "
    "the chloroplast. RuBisCO is the enzyme of carbon fixation in the Calvin cycle.\n\n"
    "## Light reactions\n\nThe light reactions in the thylakoid membrane make ATP and NADPH "
    "for the Calvin cycle.\n"
)


async def graphed_notebook(api: Api, owner: AsyncClient) -> str:
    api.context.graph = FakeGraph()
    notebook_id = await notebook_of(owner)
    await owner.post(f"/api/v1/notebooks/{notebook_id}/sources", json={"text": TEXT})
    await Worker(api.context).drain()
    return notebook_id


def drawn(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', page)
    assert found, page
    return dict(json.loads(found.group(1)))


def test_a_mention_is_found_in_any_case_and_with_an_ending() -> None:
    text = "Light feeds the Calvin  cycles of the leaf."
    start, end = mention_span(text, "calvin cycle") or (0, 0)
    assert text[start:end] == "Calvin  cycles"
    assert mention_span(text, "krebs cycle") is None


async def test_the_graph_is_listed_drawn_and_searched(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await graphed_notebook(api, owner)
        base = f"/notebooks/{notebook_id}/graph"
        page = await http.get(base)
        assert page.status_code == 200
        assert 'aria-current="page">Graph</a>' in page.text
        data = drawn(page.text)
        names = {e["name"] for e in data["entities"]}
        assert "calvin cycle" in names and data["relations"] and data["center"] is None
        assert f'href="{base}?entity=calvin%20cycle">calvin cycle</a>' in page.text
        assert "<script>" not in page.text and " style=" not in page.text

        around = await http.get(base, params={"entity": "Calvin cycle"})
        data = drawn(around.text)
        assert data["center"] == "calvin cycle" and len(data["entities"]) > 1
        assert "Passages that mention “calvin cycle”" in around.text
        mention = re.search(r'<li><a href="([^"]+)">', around.text.split('id="mentions"')[1])
        assert mention and "<mark>Calvin cycle</mark>" in around.text
        passage = await http.get(mention.group(1).replace("&amp;", "&"))
        assert '<mark id="span">Calvin cycle</mark>' in passage.text

        more = await http.get(f"{base}/data", params={"entity": "carbon dioxide"})
        assert more.status_code == 200 and more.json()["center"] == "carbon dioxide"
        assert more.headers["cache-control"] == "no-store"

        unknown = await http.get(base, params={"entity": "cycle of krebs"})
        assert "No entity “cycle of krebs” in this notebook" in unknown.text
        assert "The closest names:" in unknown.text and ">calvin cycle</a>" in unknown.text


async def test_an_empty_a_disabled_and_a_failing_graph_are_said_in_words(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        base = f"/notebooks/{notebook_id}/graph"
        off = await http.get(base)
        assert off.status_code == 200 and "The knowledge graph is turned off" in off.text
        assert (await http.get(f"{base}/data")).json()["error"].startswith("The knowledge graph")

        api.context.graph = FakeGraph()
        empty = await http.get(base)
        assert "The graph is empty." in empty.text

        class DownGraph(FakeGraph):
            async def graph(
                self, notebook_id: str, *, entity: str | None = None, limit: int = 100
            ) -> GraphView:
                raise GraphError("the graph worker failed to start")

        api.context.graph = DownGraph()
        down = await http.get(base)
        assert down.status_code == 503
        assert "The knowledge graph is not answering just now" in down.text
        assert "the graph worker failed to start" in down.text
        assert (await http.get(f"{base}/data", params={"entity": "x"})).status_code == 503


async def test_another_users_graph_is_not_found(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as stranger:
        notebook_id = await graphed_notebook(api, owner)
        other = await api.new_user("other")
        assert (await stranger.post("/signin", data={"token": other})).status_code == 303
        assert csrf_of((await stranger.get("/")).text)
        for path in (f"/notebooks/{notebook_id}/graph", f"/notebooks/{notebook_id}/graph/data"):
            for params in ({}, {"entity": "calvin cycle"}):
                answer = await stranger.get(path, params=params)
                assert answer.status_code == 404, path
                assert "calvin" not in answer.text
