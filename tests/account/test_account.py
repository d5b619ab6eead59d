"""`/api/v1/me`: the caller's account, rotating the token in use, revoking a token."""

from __future__ import annotations

import asyncio

from httpx import AsyncClient

from tests.conftest import Api


async def test_the_account_lists_its_tokens_and_marks_the_current_one(
    api: Api, client: AsyncClient
) -> None:
    me = (await client.get("/api/v1/me")).json()
    assert me["name"] == "local"
    labels = {token["name"]: token["current"] for token in me["tokens"]}
    assert labels == {"first-start": False, "tests": True}
    assert all("token_hash" not in token for token in me["tokens"])


async def test_rotation_replaces_the_token_in_use_and_the_kept_copy(api: Api) -> None:
    kept = (await asyncio.to_thread(api.context.settings.token_file.read_text)).strip()
    async with api.client(kept) as old_client:
        rotated = await old_client.post("/api/v1/me/token/rotate")
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["token"]
        assert new.startswith("lt_") and rotated.json()["name"] == "first-start"
        assert (await old_client.get("/api/v1/notebooks")).status_code == 401
    async with api.client(new) as new_client:
        assert (await new_client.get("/api/v1/notebooks")).status_code == 200
    kept_now = (await asyncio.to_thread(api.context.settings.token_file.read_text)).strip()
    assert kept_now == new


async def test_rotating_another_token_leaves_the_kept_copy_alone(
    api: Api, client: AsyncClient
) -> None:
    kept = await asyncio.to_thread(api.context.settings.token_file.read_text)
    assert (await client.post("/api/v1/me/token/rotate")).status_code == 200
    assert await asyncio.to_thread(api.context.settings.token_file.read_text) == kept


async def test_revoking_a_token_and_what_cannot_be_revoked(api: Api, client: AsyncClient) -> None:
    me = (await client.get("/api/v1/me")).json()
    first = next(t["id"] for t in me["tokens"] if t["name"] == "first-start")
    assert (await client.delete(f"/api/v1/me/tokens/{first}")).status_code == 204
    assert (await client.delete(f"/api/v1/me/tokens/{first}")).status_code == 404

    other = await api.new_user("grace")
    async with api.client(other) as grace:
        theirs = (await grace.get("/api/v1/me")).json()["tokens"][0]["id"]
        assert (await client.delete(f"/api/v1/me/tokens/{theirs}")).status_code == 404
        assert (await grace.get("/api/v1/me")).status_code == 200  # untouched
        assert (await grace.delete(f"/api/v1/me/tokens/{theirs}")).status_code == 204
        assert (await grace.get("/api/v1/me")).status_code == 401  # signed itself out
