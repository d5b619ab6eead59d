"""Requests that used to end in a 500 (the outside audit's repros) get a clear 4xx on both
database backends, and an unexpected error leaves the connection usable."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy.exc import TimeoutError as PoolTimeout

from learningtool.config import Settings
from learningtool.main import create_app
from tests.conftest import Api

NUL = "a\x00b"


@pytest.fixture
async def notebook(client: AsyncClient) -> str:
    return str((await client.post("/api/v1/notebooks", json={"name": "Bad input"})).json()["id"])


def _refused(response: Any) -> None:
    assert response.status_code == 422, response.text
    assert "NUL" in response.json()["error"]["message"]


async def test_a_nul_character_in_stored_text_is_refused(
    client: AsyncClient, notebook: str
) -> None:
    base = f"/api/v1/notebooks/{notebook}"
    _refused(await client.post("/api/v1/notebooks", json={"name": NUL}))
    _refused(await client.patch(base, json={"name": NUL}))
    _refused(await client.post(f"{base}/sources", json={"text": "text", "title": NUL}))
    _refused(await client.post(f"{base}/sources", json={"text": f"some {NUL} text"}))
    _refused(await client.post(f"{base}/research", json={"question": f"why {NUL}?"}))
    chat = (await client.post(f"{base}/chat/sessions", json={"title": "x"})).json()["id"]
    _refused(await client.post(f"{base}/chat/sessions/{chat}/messages", json={"content": NUL}))
    names = [n["name"] for n in (await client.get("/api/v1/notebooks")).json()]
    assert names == ["Bad input"]  # nothing half-stored


async def test_a_nul_character_in_a_path_or_query_is_refused(
    client: AsyncClient, notebook: str
) -> None:
    _refused(await client.get("/api/v1/jobs/a%00b"))
    _refused(await client.get(f"/api/v1/notebooks/{notebook}/sources/a%00b"))


async def test_a_date_without_a_time_zone_is_refused(client: AsyncClient, notebook: str) -> None:
    cards = f"/api/v1/notebooks/{notebook}/cards"
    naive = await client.get(cards, params={"due_before": "2026-01-01T00:00:00"})
    assert naive.status_code == 422, naive.text
    aware = await client.get(cards, params={"due_before": "2026-01-01T00:00:00Z"})
    assert aware.status_code == 200


async def test_an_ordinal_beyond_64_bits_is_refused(client: AsyncClient, notebook: str) -> None:
    source = (
        await client.post(f"/api/v1/notebooks/{notebook}/sources", json={"text": "Some text."})
    ).json()["source"]["id"]
    chunks = f"/api/v1/notebooks/{notebook}/sources/{source}/chunks"
    assert (await client.get(chunks, params={"after": 2**63})).status_code == 422
    assert (await client.get(chunks, params={"after": 2**31 - 1})).status_code == 200


async def test_a_malformed_international_host_is_refused(
    client: AsyncClient, notebook: str
) -> None:
    response = await client.post(
        f"/api/v1/notebooks/{notebook}/sources", json={"url": "http://xn--/page"}
    )
    assert response.status_code == 422, response.text
    assert "not a valid host name" in response.json()["error"]["message"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_unexpected_error_is_a_json_500_and_does_not_escape_the_app(
    settings: Settings,
) -> None:
    """Starlette's handler for `Exception` answered and raised again; the server then closed
    the kept-alive connection, failing the client's next request. The transport raises
    whatever the app raises, so getting a response proves nothing escaped."""

    async def boom() -> None:
        raise RuntimeError("a bug")

    app = create_app(settings)  # as served (the tests' apps raise unexpected errors)
    app.add_api_route("/boom", boom)
    transport = ASGITransport(app=app, raise_app_exceptions=True)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://test") as http,
    ):
        response = await http.get("/boom")
        assert response.status_code == 500
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.json()["error"] == {
            "code": "internal_error",
            "message": "internal error",
            "details": {},
        }
        assert (await http.get("/healthz")).status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_exhausted_connection_pool_is_a_503_to_retry(api: Api) -> None:
    """Reads during an ingestion once emptied the pool; its timeout was a 500."""

    async def starved() -> None:
        raise PoolTimeout("QueuePool limit of size 5 overflow 10 reached")

    api.app.add_api_route("/starved", starved)  # type: ignore[attr-defined]
    async with api.client() as http:
        response = await http.get("/starved")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "unavailable"
