"""Who a page request is, and whether it may change anything.

Pages authenticate with the session cookie only; the API (`/api/v1`) with bearer tokens only
(it never reads the cookie, so a cross-site request cannot use a browser's session there).
A page request that changes state (any method but GET/HEAD) must carry the session's CSRF
token, as the `X-CSRF-Token` header (htmx sends it, `static/app.js`) or the `csrf_token`
form field, and, when the browser says where it comes from (`Origin`, `Sec-Fetch-Site`), come
from this site. `PageRoute` turns the refusals into pages: a redirect to the sign-in page, a
403 or an error page in words."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from learningtool.deps import SessionDep
from learningtool.errors import AppError
from learningtool.models import User
from learningtool.web import sessions
from learningtool.web.templating import render

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SignInRequired(Exception):
    """No live session: the page sends the browser to the sign-in page."""


class Refused(Exception):
    """A change the request may not make (403): no CSRF token, or from another site."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def page_user(request: Request, session: SessionDep) -> User:
    secret = request.cookies.get(sessions.COOKIE)
    user = await sessions.find_user(session, secret) if secret else None
    if user is None or secret is None:
        raise SignInRequired()
    request.state.user = user
    request.state.session_secret = secret
    request.state.csrf_token = sessions.csrf_token(secret)
    return user


def check_origin(request: Request) -> None:
    """A browser names the page a request comes from; another site's is refused (the
    session cookie is SameSite=Strict already: this covers older browsers and sign-in,
    which has no session yet)."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise Refused("this request came from another site")
    origin = request.headers.get("origin")
    if origin is None:
        return
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin != own:
        raise Refused("this request came from another site")


async def changing_user(request: Request, user: Annotated[User, Depends(page_user)]) -> User:
    """The signed-in user of a request that changes state, its CSRF token checked."""
    check_origin(request)
    sent: object = request.headers.get(CSRF_HEADER)
    if sent is None and request.method not in SAFE_METHODS:
        form = await request.form()
        sent = form.get(CSRF_FIELD)
    check_csrf(request, sent if isinstance(sent, str) else "")
    return user


async def streaming_user(request: Request, user: Annotated[User, Depends(page_user)]) -> User:
    """The signed-in user of a change whose body is streamed (a file upload): the CSRF token
    must come as the header, so the body is never parsed (or spooled) to look for it."""
    check_origin(request)
    check_csrf(request, request.headers.get(CSRF_HEADER, ""))
    return user


def check_csrf(request: Request, sent: str) -> None:
    """Refuse unless `sent` is the session's CSRF token (set by `page_user`)."""
    expected: str = request.state.csrf_token
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Refused("the form has expired or did not come from this site; reload the page")


PageUser = Annotated[User, Depends(page_user)]
ChangingUser = Annotated[User, Depends(changing_user)]
StreamingUser = Annotated[User, Depends(streaming_user)]


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    location = "/signin" if target == "/" else f"/signin?next={quote(target, safe='')}"
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def error_page(request: Request, status_code: int, message: str) -> Response:
    return render(
        request, "error.html", {"status": status_code, "message": message}, status_code=status_code
    )


class PageRoute(APIRoute):
    """A page route: the app's errors become pages that say what happened in words (the
    API's JSON error shape is for programs)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return sign_in_redirect(request)
            except Refused as error:
                return error_page(request, 403, error.message)
            except AppError as error:
                return error_page(request, error.status_code, error.message)
            except RequestValidationError as error:
                fields = sorted({str(e.get("loc", ("",))[-1]) for e in error.errors()})
                message = f"the form is missing or has an invalid value: {', '.join(fields)}"
                return error_page(request, 422, message)

        return handle
