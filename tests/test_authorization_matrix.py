"""The authorization matrix over every route of the served OpenAPI schema: no token, a wrong
token, another user's token, and an id taken from another notebook of the same user.

The routes come from the schema, so a new route is in the matrix the day it is added: a
route that needs a body fails this test until `BODIES` says what to send it."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select

from learningtool.jobs.worker import Worker
from learningtool.models import Exclusion, FeedItem, Job, StudyItem, Topic
from learningtool.ratelimit import Limit, RateLimiter, RateLimits
from tests.conftest import Api

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PUBLIC = {"/healthz", "/readyz", "/metrics"}
TEXT = (
    "# Photosynthesis\n\nThe Calvin cycle fixes carbon dioxide into sugars in the stroma of "
    "the chloroplast. RuBisCO is the enzyme that fixes carbon in the Calvin cycle. The light "
    "reactions in the thylakoid membranes make ATP and NADPH for the Calvin cycle.\n"
)
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/notebooks"): {"name": "Made by the matrix"},
    ("PATCH", "/api/v1/notebooks/{notebook_id}"): {"name": "Renamed"},
    ("POST", "/api/v1/notebooks/{notebook_id}/exclusions"): {
        "target_kind": "tag",
        "target": "draft",
    },
    ("POST", "/api/v1/notebooks/{notebook_id}/sources"): {"text": "Another note."},
    ("PATCH", "/api/v1/notebooks/{notebook_id}/cards/{item_id}"): {"suspended": True},
    ("POST", "/api/v1/notebooks/{notebook_id}/cards/{item_id}/review"): {"rating": "good"},
    ("POST", "/api/v1/notebooks/{notebook_id}/topics/{topic_id}/accept"): {},
    ("PUT", "/api/v1/notebooks/{notebook_id}/topic-preferences"): {"count": 3},
    ("POST", "/api/v1/notebooks/{notebook_id}/research"): {"question": "Why?"},
    ("POST", "/api/v1/notebooks/{notebook_id}/chat/sessions"): {"title": "Matrix"},
    ("PATCH", "/api/v1/notebooks/{notebook_id}/chat/sessions/{session_id}"): {"title": "x"},
    ("POST", "/api/v1/notebooks/{notebook_id}/chat/sessions/{session_id}/messages"): {
        "content": "What fixes carbon?"
    },
}
QUERIES = {"/api/v1/notebooks/{notebook_id}/search": {"q": "Calvin"}}


def _routes(schema: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(method, path template, needs a body) of every documented route but health."""
    return [
        (method.upper(), path, "requestBody" in operation)
        for path, operations in schema["paths"].items()
        if path not in PUBLIC
        for method, operation in operations.items()
    ]


async def _ids(api: Api, client: AsyncClient, name: str) -> dict[str, str]:
    """A notebook with one of everything the routes take an id of."""
    notebook = (await client.post("/api/v1/notebooks", json={"name": name})).json()["id"]
    base = f"/api/v1/notebooks/{notebook}"
    source = (await client.post(f"{base}/sources", json={"text": TEXT})).json()["source"]["id"]
    await Worker(api.context).drain()
    chat = (await client.post(f"{base}/chat/sessions", json={"title": "s"})).json()["id"]
    run = (await client.post(f"{base}/research", json={"question": "What is RuBisCO?"})).json()
    await client.post(f"{base}/exclusions", json={"target_kind": "source", "target": source})
    async with api.context.sessions() as session:

        async def first(column: Any, *where: Any) -> str:
            value = await session.scalar(select(column).where(*where).limit(1))
            assert value is not None, f"the setup made no {column}"
            return str(value)

        return {
            "notebook_id": notebook,
            "source_id": source,
            "session_id": chat,
            "run_id": run["run"]["id"],
            "job_id": await first(Job.id, Job.notebook_id == notebook),
            "item_id": await first(
                StudyItem.id, StudyItem.notebook_id == notebook, StudyItem.kind == "flashcard"
            ),
            "topic_id": await first(Topic.id, Topic.notebook_id == notebook),
            "exclusion_id": await first(Exclusion.id, Exclusion.notebook_id == notebook),
            "feed_item": await first(FeedItem.id, FeedItem.notebook_id == notebook),
        }


def _fill(template: str, ids: dict[str, str]) -> str:
    filled = template
    for name, value in ids.items():
        filled = filled.replace("{" + name + "}", value)
    if "/feed/{item_id}" in template:  # the feed's items are not study items
        filled = filled.replace(ids["item_id"], ids["feed_item"])
    return filled


async def _call(
    client: AsyncClient, method: str, template: str, ids: dict[str, str], body: bool
) -> int:
    url = _fill(template, ids)
    payload = BODIES.get((method, template)) if body else None
    if isinstance(payload, dict):
        payload = {k: _fill(v, ids) if isinstance(v, str) else v for k, v in payload.items()}
    response = await client.request(
        method, url, json=payload, params=QUERIES.get(template), timeout=30
    )
    return response.status_code


async def test_every_route_refuses_what_it_must(api: Api, client: AsyncClient) -> None:
    unlimited = RateLimiter(Limit(per_minute=0, burst=1), "anything")
    api.app.state.rate_limits = RateLimits(unlimited, unlimited, unlimited, unlimited)  # type: ignore[attr-defined]
    routes = _routes((await client.get("/openapi.json")).json())
    missing = [(m, p) for m, p, body in routes if body and (m, p) not in BODIES]
    assert missing == [], "add an example body to BODIES for these new routes"
    mine = await _ids(api, client, "Mine")
    sibling = await _ids(api, client, "My other notebook")
    other_user = await api.new_user("intruder")
    cells: dict[str, list[str]] = {}
    async with (
        api.client() as anonymous,
        api.client("lt_not-a-real-token") as wrong,
        api.client(other_user) as intruder,
    ):
        for method, template, body in routes:
            route = f"{method} {template}"
            no_token = await _call(anonymous, method, template, mine, body)
            bad_token = await _call(wrong, method, template, mine, body)
            cells.setdefault("401", []).extend(
                route for code in (no_token, bad_token) if code != 401
            )
            if "{" not in template:
                continue  # lists and creations: the caller's own, whoever they are
            foreign = await _call(intruder, method, template, mine, body)
            if foreign != 404:
                cells.setdefault("404 for another user", []).append(f"{route}: {foreign}")
            if template.count("{") > 1:  # a resource id inside a notebook of mine
                crossed = {**mine, "notebook_id": sibling["notebook_id"]}
                code = await _call(client, method, template, crossed, body)
                if code != 404:
                    cells.setdefault("404 across notebooks", []).append(f"{route}: {code}")
    assert {cell: routes for cell, routes in cells.items() if routes} == {}
    # Nothing of mine was touched by the refused requests.
    notebook = await client.get(f"/api/v1/notebooks/{mine['notebook_id']}")
    assert notebook.status_code == 200 and notebook.json()["name"] == "Mine"
    source = await client.get(f"/api/v1/notebooks/{mine['notebook_id']}/sources")
    assert mine["source_id"] in {s["id"] for s in source.json()}
