"""Signing in to the pages (the printed one-time link, a token on the sign-in page), the
session cookie's flags, signing out, and that the cookie never authenticates the API."""

from __future__ import annotations

from datetime import timedelta

from httpx import AsyncClient
from sqlalchemy import update

from learningtool.db import session_scope
from learningtool.models import WebSession, utcnow
from learningtool.web.sessions import COOKIE, SignInCodes
from tests.conftest import Api


async def local_user_id(api: Api) -> str:
    async with api.client(api.token) as http:
        me = (await http.get("/api/v1/me")).json()
    return str(me["id"])


async def signed_in(api: Api, http: AsyncClient) -> None:
    code = api.app.state.sign_in_codes.issue(await local_user_id(api))  # type: ignore[attr-defined]
    answer = await http.get(f"/signin?token={code}")
    assert answer.status_code == 303, answer.text


async def test_a_page_without_a_session_goes_to_the_sign_in_page(api: Api) -> None:
    async with api.client() as http:
        home = await http.get("/")
        assert home.status_code == 303
        assert home.headers["location"] == "/signin"
        deep = await http.get("/notebooks/abc/rename")
        assert deep.headers["location"] == "/signin?next=%2Fnotebooks%2Fabc%2Frename"
        polled = await http.get("/parts/deletions", headers={"HX-Request": "true"})
        assert (polled.status_code, polled.headers["hx-redirect"]) == (
            401,
            "/signin?next=%2Fparts%2Fdeletions",
        )
        page = await http.get("/signin")
        assert page.status_code == 200
        assert "Access token" in page.text


async def test_the_link_signs_in_once_with_a_strict_http_only_cookie(api: Api) -> None:
    code = api.app.state.sign_in_codes.issue(await local_user_id(api))  # type: ignore[attr-defined]
    async with api.client() as http:
        answer = await http.get(f"/signin?token={code}")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/"} <= flags
        assert "secure" not in flags  # plain http on loopback: a Secure cookie would be lost
        home = await http.get("/")
        assert home.status_code == 200
        assert "local" in home.text
    async with api.client() as other:
        again = await other.get(f"/signin?token={code}")
        assert again.status_code == 400
        assert "used already or has expired" in again.text
        assert "set-cookie" not in again.headers
        assert (await other.get("/")).status_code == 303


async def test_an_expired_link_signs_nobody_in(api: Api) -> None:
    api.app.state.sign_in_codes = SignInCodes(0)  # type: ignore[attr-defined]
    code = api.app.state.sign_in_codes.issue(await local_user_id(api))  # type: ignore[attr-defined]
    async with api.client() as http:
        answer = await http.get(f"/signin?token={code}")
        assert answer.status_code == 400
        assert "set-cookie" not in answer.headers


async def test_the_sign_in_page_takes_an_access_token(api: Api) -> None:
    async with api.client() as http:
        wrong = await http.post("/signin", data={"token": "lt_not-a-token"})
        assert wrong.status_code == 401
        assert "not valid" in wrong.text
        right = await http.post("/signin", data={"token": api.token, "next": "/notebooks/x/rename"})
        assert right.status_code == 303
        assert right.headers["location"] == "/notebooks/x/rename"
        assert (await http.get("/")).status_code == 200


async def test_sign_in_never_redirects_to_another_site(api: Api) -> None:
    async with api.client() as http:
        answer = await http.post("/signin", data={"token": api.token, "next": "//evil.example/"})
        assert answer.headers["location"] == "/"


async def test_sign_out_ends_the_session(api: Api) -> None:
    async with api.client() as http:
        await signed_in(api, http)
        home = await http.get("/")
        csrf = home.text.split('name="csrf-token" content="')[1].split('"')[0]
        kept = http.cookies[COOKIE]
        out = await http.post("/signout", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert out.headers["location"] == "/signin"
    async with api.client() as replay:  # the old cookie, kept by someone, is dead too
        replay.cookies.set(COOKIE, kept)
        assert (await replay.get("/")).status_code == 303


async def test_the_api_ignores_the_session_cookie(api: Api) -> None:
    """The bearer API is unchanged: a browser's session cookie authenticates no API call,
    so no cross-site request can use it there."""
    async with api.client() as http:
        await signed_in(api, http)
        assert (await http.get("/")).status_code == 200
        answer = await http.get("/api/v1/notebooks")
        assert answer.status_code == 401
        created = await http.post("/api/v1/notebooks", json={"name": "x"})
        assert created.status_code == 401


async def test_an_expired_session_signs_in_again(api: Api) -> None:
    async with api.client() as http:
        await signed_in(api, http)
        assert (await http.get("/")).status_code == 200
        async with session_scope(api.context.sessions) as session:
            past = utcnow() - timedelta(seconds=1)
            await session.execute(update(WebSession).values(expires_at=past))
        answer = await http.get("/")
        assert (answer.status_code, answer.headers["location"]) == (303, "/signin")
