"""The notebooks pages over HTTP: security headers, CSRF refusals (a cross-site form post
without the token, a token from another site's page), create/rename/delete through the
services, errors in words, and another user's notebook as a 404."""

from __future__ import annotations

import re

from httpx import AsyncClient

from learningtool.web.templating import PAGE_CSP
from tests.conftest import Api
from tests.web.test_sign_in import signed_in


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page)
    assert found, page
    return found.group(1)


async def names(http: AsyncClient) -> list[str]:
    return [n["name"] for n in (await http.get("/api/v1/notebooks")).json()]


async def test_pages_carry_the_security_headers(api: Api) -> None:
    async with api.client() as http:
        for page in ("/signin", "/"):
            answer = await http.get(page, follow_redirects=True)
            assert answer.status_code == 200
            assert answer.headers["content-security-policy"] == PAGE_CSP
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["cache-control"] == "no-store"
        await signed_in(api, http)
        home = await http.get("/")
        assert home.headers["content-security-policy"] == PAGE_CSP
        assert "<script>" not in home.text and " style=" not in home.text
        for asset in ("/assets/vendor/htmx/htmx.min.js", "/assets/app.js", "/assets/app.css"):
            assert (await http.get(asset)).status_code == 200, asset


async def test_the_web_routes_are_not_in_the_api_schema(api: Api) -> None:
    async with api.client() as http:
        paths = (await http.get("/openapi.json")).json()["paths"]
    assert all(
        path.startswith("/api/") or path in {"/healthz", "/readyz", "/metrics"} for path in paths
    ), sorted(paths)


async def test_a_cross_site_form_post_without_the_token_is_refused(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        token = csrf_of((await http.get("/")).text)
        # What another site's form can send: the cookie (were it not SameSite), no token.
        forged = await http.post("/notebooks", data={"name": "Forged"})
        assert forged.status_code == 403
        assert "did not come from this site" in forged.text
        wrong = await http.post("/notebooks", data={"name": "Forged", "csrf_token": "0" * 64})
        assert wrong.status_code == 403
        elsewhere = await http.post(
            "/notebooks",
            data={"name": "Forged", "csrf_token": token},
            headers={"Origin": "https://evil.example"},
        )
        assert elsewhere.status_code == 403
        cross = await http.post(
            "/notebooks",
            data={"name": "Forged", "csrf_token": token},
            headers={"Sec-Fetch-Site": "cross-site"},
        )
        assert cross.status_code == 403
        assert await names(owner) == []
        made = await http.post(
            "/notebooks",
            data={"name": "Biology", "csrf_token": token},
            headers={"Origin": "http://test"},
        )
        assert made.status_code == 303
        by_header = await http.post(
            "/notebooks", data={"name": "Chemistry"}, headers={"X-CSRF-Token": token}
        )
        assert by_header.status_code == 303
        assert await names(owner) == ["Biology", "Chemistry"]
        assert (await http.post("/signout")).status_code == 403


async def test_create_rename_delete_with_errors_in_words(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        empty = await http.get("/")
        assert "You have no notebook yet" in empty.text
        token = csrf_of(empty.text)
        await http.post("/notebooks", data={"name": "Biology", "csrf_token": token})
        twice = await http.post("/notebooks", data={"name": "Biology", "csrf_token": token})
        assert twice.status_code == 409
        assert "A notebook named &#39;Biology&#39; exists already." in twice.text
        blank = await http.post("/notebooks", data={"name": "  ", "csrf_token": token})
        assert blank.status_code == 422 and "needs a name" in blank.text
        notebook_id = (await owner.get("/api/v1/notebooks")).json()[0]["id"]
        listed = await http.get("/")
        assert "0 sources · 0 cards due" in listed.text
        await http.post("/notebooks", data={"name": "Genetics", "csrf_token": token})
        taken = await http.post(
            f"/notebooks/{notebook_id}/rename", data={"name": "Genetics", "csrf_token": token}
        )
        assert taken.status_code == 422
        assert "exists already" in taken.text and "Rename “Biology”" in taken.text
        renamed = await http.post(
            f"/notebooks/{notebook_id}/rename", data={"name": "Cells", "csrf_token": token}
        )
        assert renamed.status_code == 303
        assert await names(owner) == ["Cells", "Genetics"]
        confirm = await http.get(f"/notebooks/{notebook_id}/delete")
        assert "This cannot be undone" in confirm.text
        deleted = await http.post(f"/notebooks/{notebook_id}/delete", data={"csrf_token": token})
        assert deleted.status_code == 303
        assert await names(owner) == ["Genetics"]
        pending = await http.get("/")
        assert "Being deleted" in pending.text and "waiting to delete" in pending.text


async def test_another_users_notebook_is_not_found(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as stranger:
        notebook_id = (await owner.post("/api/v1/notebooks", json={"name": "Mine"})).json()["id"]
        other = await api.new_user("other")
        assert (await stranger.post("/signin", data={"token": other})).status_code == 303
        token = csrf_of((await stranger.get("/")).text)
        for page in (f"/notebooks/{notebook_id}/rename", f"/notebooks/{notebook_id}/delete"):
            answer = await stranger.get(page)
            assert answer.status_code == 404
            assert "Notebook not found." in answer.text
        refused = await stranger.post(
            f"/notebooks/{notebook_id}/delete", data={"csrf_token": token}
        )
        assert refused.status_code == 404
        assert await names(owner) == ["Mine"]
