"""Authentication and the authorization matrix: another user's resources are 404, unchanged."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import datetime

import pytest
from httpx import AsyncClient
from sqlalchemy import select

from learningtool.db import session_scope
from learningtool.models import ApiToken
from tests.conftest import Api

BODIES = {"POST": {"name": "x", "target_kind": "tag", "target": "t"}, "PATCH": {"name": "hijacked"}}


def _api_routes(api: Api) -> list[tuple[str, str]]:
    """Every API operation, as the OpenAPI document lists it (so new routes are covered)."""
    paths = api.app.openapi()["paths"]  # type: ignore[attr-defined]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/v1")
        for method in operations
    ]


def _fill(path: str, **values: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "0" * 32), path)


async def test_every_api_route_needs_a_valid_token(api: Api) -> None:
    routes = _api_routes(api)
    assert len(routes) >= 10
    for token in (None, "lt_not-a-real-token"):
        async with api.client(token) as anonymous:
            for method, path in routes:
                response = await anonymous.request(method, _fill(path), json=BODIES.get(method))
                assert response.status_code == 401, (method, path, response.text)
                assert response.json()["error"]["code"] == "unauthorized"
                assert response.headers["www-authenticate"] == "Bearer"


async def test_second_user_gets_404_everywhere_and_changes_nothing(
    api: Api, client: AsyncClient
) -> None:
    notebook = (await client.post("/api/v1/notebooks", json={"name": "Private"})).json()
    exclusion = (
        await client.post(
            f"/api/v1/notebooks/{notebook['id']}/exclusions",
            json={"target_kind": "tag", "target": "secret"},
        )
    ).json()
    other = (await client.post("/api/v1/notebooks", json={"name": "Doomed"})).json()
    job = (await client.delete(f"/api/v1/notebooks/{other['id']}")).json()["job"]
    ids = {"notebook_id": notebook["id"], "exclusion_id": exclusion["id"], "job_id": job["id"]}

    checked = 0
    async with api.client(await api.new_user("mallory")) as mallory:
        for method, path in _api_routes(api):
            if "{" not in path:
                continue
            response = await mallory.request(method, _fill(path, **ids), json=BODIES.get(method))
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["error"]["code"] == "not_found"
            checked += 1
        assert (await mallory.get("/api/v1/notebooks")).json() == []
    assert checked >= 8

    # Nothing changed for the owner.
    mine = (await client.get(f"/api/v1/notebooks/{notebook['id']}")).json()
    assert mine["name"] == "Private"
    exclusions = (await client.get(f"/api/v1/notebooks/{notebook['id']}/exclusions")).json()
    assert [e["id"] for e in exclusions] == [exclusion["id"]]
    assert (await client.get(f"/api/v1/jobs/{job['id']}")).json()["state"] == "queued"


async def test_health_routes_need_no_token(api: Api) -> None:
    async with api.client() as anonymous:
        assert (await anonymous.get("/healthz")).json() == {"status": "ok"}
        ready = await anonymous.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
        assert (await anonymous.get("/metrics")).status_code == 200


class WriteLock:
    """Another process's write transaction on the SQLite file (as the job queue or an
    ingestion holds it), taken and given back in a thread."""

    def __init__(self, database_url: str) -> None:
        self.path = database_url.split("///", 1)[1]
        self.connection: sqlite3.Connection | None = None

    async def __aenter__(self) -> None:
        def take() -> sqlite3.Connection:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            connection.execute("BEGIN IMMEDIATE")
            return connection

        self.connection = await asyncio.to_thread(take)

    async def __aexit__(self, *_: object) -> None:
        if self.connection is not None:
            await asyncio.to_thread(self.connection.close)  # rolls the transaction back


async def _last_used(api: Api, name: str) -> datetime | None:
    async with session_scope(api.context.sessions) as session:
        return await session.scalar(select(ApiToken.last_used_at).where(ApiToken.name == name))


async def test_a_request_does_not_wait_for_the_write_lock(api: Api, database_url: str) -> None:
    """Reads under a busy writer: authenticating used to write the token's last use, so a
    plain read waited for SQLite's write lock (seconds under ingestion); now the use is
    written apart, once the lock is free."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's single write lock")
    assert await _last_used(api, "tests") is None
    async with WriteLock(database_url), api.client(api.token) as client:
        async with asyncio.timeout(5):  # the busy timeout is 30 s
            assert (await client.get("/api/v1/notebooks")).status_code == 200
    async with asyncio.timeout(20):
        while await _last_used(api, "tests") is None:
            await asyncio.sleep(0.1)
