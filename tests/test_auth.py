"""Authentication and the authorization matrix: another user's resources are 404, unchanged."""

from __future__ import annotations

import re

from httpx import AsyncClient

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
