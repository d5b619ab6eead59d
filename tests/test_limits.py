"""Limits a shared server needs: failed sign-ins per address, expensive actions per user (429
with Retry-After, nothing stored), and security headers on every response."""

from __future__ import annotations

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import func, select

from learningtool.config import Settings
from learningtool.models import ResearchRun, Source
from learningtool.ratelimit import Limit, RateLimiter, RateLimits
from tests.conftest import Api

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _client(api: Api, token: str, address: str) -> AsyncClient:
    transport = ASGITransport(app=api.app, client=(address, 40000))  # type: ignore[arg-type]
    return AsyncClient(
        transport=transport,
        base_url="http://test",
        headers={"Authorization": f"Bearer {token}"},
    )


def _small_limits(per_minute: float, burst: int) -> RateLimits:
    def limiter(what: str) -> RateLimiter:
        return RateLimiter(Limit(per_minute, burst), what)

    return RateLimits(
        sign_in=limiter("failed sign-ins"),
        sources=limiter("sources added"),
        chat=limiter("chat messages"),
        research=limiter("research runs"),
    )


async def test_failed_sign_ins_are_slowed_down_per_address(api: Api) -> None:
    default = Settings.model_fields["rate_sign_in_failures_per_minute"].default
    on = api.context.settings.model_copy(update={"rate_sign_in_failures_per_minute": default})
    api.app.state.rate_limits = RateLimits.from_settings(on)  # type: ignore[attr-defined]
    async with _client(api, "lt_wrong", "203.0.113.7") as guesser:
        codes = [(await guesser.get("/api/v1/notebooks")).status_code for _ in range(21)]
    assert codes[:20] == [401] * 20 and codes[20] == 429
    async with _client(api, api.token, "203.0.113.7") as same_address:
        refused = await same_address.get("/api/v1/notebooks")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    async with _client(api, api.token, "198.51.100.2") as elsewhere:
        assert (await elsewhere.get("/api/v1/notebooks")).status_code == 200


async def test_expensive_actions_are_limited_per_user_and_store_nothing(
    api: Api, client: AsyncClient
) -> None:
    api.app.state.rate_limits = _small_limits(per_minute=1, burst=2)  # type: ignore[attr-defined]
    notebook = (await client.post("/api/v1/notebooks", json={"name": "Busy"})).json()["id"]
    sources = f"/api/v1/notebooks/{notebook}/sources"
    added = [await client.post(sources, json={"text": f"Note number {n}."}) for n in range(3)]
    assert [r.status_code for r in added] == [202, 202, 429]
    error = added[2].json()["error"]
    assert error["code"] == "too_many_requests" and "sources added" in error["message"]
    assert int(added[2].headers["Retry-After"]) == error["details"]["retry_after"] >= 1
    research = f"/api/v1/notebooks/{notebook}/research"
    invalid = [await client.post(research, json={"question": ""}) for _ in range(3)]
    assert {r.status_code for r in invalid} == {422}  # refused requests cost nothing
    runs = [await client.post(research, json={"question": f"Why {n}?"}) for n in range(3)]
    assert [r.status_code for r in runs] == [202, 202, 429]
    other = await api.new_user("other")  # another user's allowance is their own
    async with api.client(other) as theirs:
        mine = (await theirs.post("/api/v1/notebooks", json={"name": "Theirs"})).json()["id"]
        response = await theirs.post(f"/api/v1/notebooks/{mine}/sources", json={"text": "Hi."})
        assert response.status_code == 202
    async with api.context.sessions() as session:
        stored = await session.scalar(
            select(func.count()).select_from(Source).where(Source.notebook_id == notebook)
        )
        started = await session.scalar(select(func.count()).select_from(ResearchRun))
    assert (stored, started) == (2, 2)


async def test_every_response_carries_the_security_headers(api: Api, client: AsyncClient) -> None:
    notebook = (await client.post("/api/v1/notebooks", json={"name": "Headers"})).json()["id"]
    async with api.client() as anonymous:
        responses = [
            await client.get("/api/v1/notebooks"),
            await client.get(f"/api/v1/notebooks/{notebook}/export"),
            await client.get("/api/v1/notebooks/nosuchnotebook"),
            await anonymous.get("/api/v1/notebooks"),
            await client.get("/healthz"),
        ]
    assert [r.status_code for r in responses] == [200, 200, 404, 401, 200]
    for response in responses:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    docs = await client.get("/docs")
    assert "frame-ancestors 'none'" in docs.headers["Content-Security-Policy"]
