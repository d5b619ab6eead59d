"""Signing in and out: the printed one-time link, the sign-in page (a bearer token), sign-out."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from learningtool.db import session_scope
from learningtool.deps import SessionDep, get_app_context, get_rate_limits
from learningtool.errors import NotFound, TooManyRequests
from learningtool.user import service as user_service
from learningtool.web import sessions
from learningtool.web.auth import ChangingUser, PageRoute, check_origin
from learningtool.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def codes(request: Request) -> sessions.SignInCodes:
    found: sessions.SignInCodes = request.app.state.sign_in_codes
    return found


def _safe_next(target: str | None) -> str:
    """Only a path of this site (never `//elsewhere`): the sign-in is no open redirect."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


async def _signed_in(request: Request, session: AsyncSession, user_id: str, to: str) -> Response:
    settings = get_app_context(request).settings
    lifetime = timedelta(days=settings.web_session_days)
    secret = await sessions.open_session(session, user_id, lifetime)
    response = RedirectResponse(_safe_next(to), status_code=303)
    response.set_cookie(
        sessions.COOKIE,
        secret,
        max_age=int(lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/signin")
async def sign_in_page(
    request: Request, session: SessionDep, token: str | None = None, next: str | None = None
) -> Response:
    """The sign-in page; with `token`, the printed link: a valid one signs in at once."""
    if token is not None:
        user_id = codes(request).redeem(token)
        if user_id is not None:
            return await _signed_in(request, session, user_id, "/")
        message = (
            "This sign-in link was used already or has expired (links work once, for a few "
            "minutes). Restart the server for a new one, or sign in with your access token."
        )
        return render(request, "signin.html", {"error": message, "next": "/"}, status_code=400)
    return render(request, "signin.html", {"error": None, "next": _safe_next(next)})


@router.post("/signin")
async def sign_in(
    request: Request,
    session: SessionDep,
    token: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Sign in with an access token (the API's bearer token). Failed attempts count against
    the address's sign-in allowance, as the API's do."""
    check_origin(request)
    failures = get_rate_limits(request).sign_in
    address = request.client.host if request.client else "unknown"
    try:
        failures.check(address)
    except TooManyRequests as error:
        message = f"Too many failed sign-ins; try again in {error.retry_after} seconds."
        return render(request, "signin.html", {"error": message, "next": next}, status_code=429)
    found = await user_service.authenticate(session, token.strip())
    if found is None:
        failures.spend(address)
        message = "This access token is not valid. It is the file local-token in the data folder."
        return render(request, "signin.html", {"error": message, "next": next}, status_code=401)
    user, _token = found
    return await _signed_in(request, session, user.id, next)


@router.post("/signout")
async def sign_out(request: Request, session: SessionDep, _user: ChangingUser) -> Response:
    await sessions.close_session(session, request.state.session_secret)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def start_link(
    sessions_factory: async_sessionmaker[AsyncSession],
    sign_in_codes: sessions.SignInCodes,
    host: str,
    port: int,
) -> str | None:
    """The one-time link printed at start, signing in the local user (None when that user
    was removed: then the sign-in page and a token are the way in)."""
    async with session_scope(sessions_factory) as session:
        try:
            user = await user_service.get_user_by_name(session, "local")
        except NotFound:
            return None
    shown = "127.0.0.1" if host in {"", "0.0.0.0"} else "[::1]" if host == "::" else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/signin?token={sign_in_codes.issue(user.id)}"
