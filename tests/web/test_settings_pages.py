"""The settings page over HTTP: the engines in use (never a key, nor what an address carries
beside its host), the user's API tokens listed, a new or rotated token shown once (the rotated
one works on the API, the old one no longer does), a revocation confirmed first, the local
token's kept copy following a rotation; another user's token is a 404, a change without the
CSRF token is refused."""

from __future__ import annotations

import asyncio
import re

from pydantic import SecretStr

from learningtool.llm import LlmClient
from tests.conftest import Api
from tests.web.test_notebook_pages import csrf_of
from tests.web.test_sign_in import signed_in


def token_id_of(page: str, name: str) -> str:
    found = re.search(rf'id="token-([0-9a-f]+)">\s*<span class="name">{name}[ <]', page)
    assert found, page
    return found.group(1)


def issued(page: str) -> str:
    found = re.search(r'id="new-token" class="new-token" value="(lt_[^"]+)"', page)
    assert found, page
    return found.group(1)


async def works(api: Api, token: str) -> int:
    async with api.client(token) as http:
        return (await http.get("/api/v1/me")).status_code


async def test_the_engines_in_use_are_named_without_secrets(api: Api) -> None:
    async with api.client() as http:
        await signed_in(api, http)
        page = await http.get("/settings")
        assert page.status_code == 200
        assert "Offline engine" in page.text
        assert "Hashing (no model)" in page.text
        assert re.search(r"<dt>Knowledge graph</dt>\s*<dd><strong>Off</strong>", page.text)
        assert re.search(r"<dt>Web search</dt>\s*<dd><strong>Off</strong>", page.text)
        settings = api.context.settings
        settings.llm_provider = "openai"
        settings.llm_model = "gpt-test-mini"
        settings.llm_api_key = SecretStr("sk-very-secret")
        settings.llm_base_url = "https://someone:hunter2@llm.example:8443/v1?key=qwerty"
        api.context.llm = LlmClient.__new__(LlmClient)  # configured: the page only names it
        configured = (await http.get("/settings")).text
        assert "OpenAI-compatible: gpt-test-mini at llm.example:8443" in configured
        for secret in ("sk-very-secret", "hunter2", "someone", "qwerty"):
            assert secret not in configured


async def test_tokens_are_listed_and_a_rotated_one_is_shown_once(api: Api) -> None:
    async with api.client() as http:
        await signed_in(api, http)
        page = await http.get("/settings")
        assert ">tests" in page.text and "first-start" in page.text
        assert "last used" in page.text
        token_id = token_id_of(page.text, "tests")
        forged = await http.post(f"/settings/tokens/{token_id}/rotate")
        assert forged.status_code == 403
        assert await works(api, api.token) == 200
        rotated = await http.post(
            f"/settings/tokens/{token_id}/rotate", data={"csrf_token": csrf_of(page.text)}
        )
        assert rotated.status_code == 200
        assert "it will not be shown again" in rotated.text
        assert rotated.headers["cache-control"] == "no-store"
        new = issued(rotated.text)
        assert await works(api, new) == 200
        assert await works(api, api.token) == 401
        again = await http.get("/settings")
        assert new not in again.text and ">tests" in again.text
        assert token_id not in again.text  # a new row, under the same name


async def test_rotating_the_kept_local_token_writes_the_new_one(api: Api) -> None:
    path = api.context.settings.token_file
    kept = (await asyncio.to_thread(path.read_text)).strip()
    async with api.client() as http:
        await signed_in(api, http)
        page = await http.get("/settings")
        assert "kept in the data directory" in page.text
        token_id = token_id_of(page.text, "first-start")
        rotated = await http.post(
            f"/settings/tokens/{token_id}/rotate", data={"csrf_token": csrf_of(page.text)}
        )
        new = issued(rotated.text)
        assert "has it already" in rotated.text
        assert (await asyncio.to_thread(path.read_text)).strip() == new
        assert await works(api, kept) == 401
        assert await works(api, new) == 200


async def test_a_new_token_and_a_confirmed_revocation(api: Api) -> None:
    async with api.client() as http:
        await signed_in(api, http)
        token = csrf_of((await http.get("/settings")).text)
        made = await http.post("/settings/tokens", data={"name": "laptop", "csrf_token": token})
        assert made.status_code == 200 and "it will not be shown again" in made.text
        new = issued(made.text)
        assert await works(api, new) == 200
        token_id = token_id_of((await http.get("/settings")).text, "laptop")
        confirm = await http.get(f"/settings/tokens/{token_id}/revoke")
        assert "Revoke the token “laptop”?" in confirm.text and "cannot be undone" in confirm.text
        assert await works(api, new) == 200  # nothing revoked by the confirmation
        refused = await http.post(f"/settings/tokens/{token_id}/revoke")
        assert refused.status_code == 403
        revoked = await http.post(f"/settings/tokens/{token_id}/revoke", data={"csrf_token": token})
        assert (revoked.status_code, revoked.headers["location"]) == (
            303,
            "/settings?revoked=true",
        )
        assert "The token was revoked" in (await http.get(revoked.headers["location"])).text
        assert await works(api, new) == 401
        assert (await http.get("/settings")).status_code == 200  # the page session stays


async def test_another_users_token_is_not_found(api: Api) -> None:
    async with api.client() as owner, api.client() as stranger:
        await signed_in(api, owner)
        token_id = token_id_of((await owner.get("/settings")).text, "tests")
        other = await api.new_user("other")
        assert (await stranger.post("/signin", data={"token": other})).status_code == 303
        page = (await stranger.get("/settings")).text
        assert token_id not in page and "first-start" not in page
        token = csrf_of(page)
        assert (await stranger.get(f"/settings/tokens/{token_id}/revoke")).status_code == 404
        for action in ("rotate", "revoke"):
            answer = await stranger.post(
                f"/settings/tokens/{token_id}/{action}", data={"csrf_token": token}
            )
            assert answer.status_code == 404 and "Token not found." in answer.text
        assert await works(api, api.token) == 200


async def test_settings_need_a_session(api: Api) -> None:
    async with api.client() as http:
        answer = await http.get("/settings")
        assert (answer.status_code, answer.headers["location"]) == (
            303,
            "/signin?next=%2Fsettings",
        )
