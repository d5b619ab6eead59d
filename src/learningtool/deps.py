"""FastAPI dependencies: the request's session (committed at the edge), the caller, the rate
limits. The notebook in a path is `learningtool.notebook.deps.NotebookDep`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.db import session_scope
from learningtool.errors import Unauthorized
from learningtool.models import User
from learningtool.ratelimit import RateLimiter, RateLimits
from learningtool.user import service as user_service
from learningtool.user.usage import TokenUse

if TYPE_CHECKING:  # the context is assembled above the domains: no import of it here
    from learningtool.context import AppContext


def get_app_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns (before the response
    is sent, so a failed commit is the client's error and not a silent loss), rolled back when
    it raises. Services flush; they never commit."""
    async with session_scope(get_app_context(request).sessions) as session:
        yield session


_bearer = HTTPBearer(auto_error=False, description="A token from `learningtool users token`.")

AppDep = Annotated["AppContext", Depends(get_app_context)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def get_rate_limits(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.rate_limits
    return limits


async def get_current_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The caller. A client address with too many failed sign-ins is refused (429) before
    its token is even looked at, so guessing tokens is slow."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required")
    failures = get_rate_limits(request).sign_in
    address = request.client.host if request.client else "unknown"
    failures.check(address)
    found = await user_service.authenticate(session, credentials.credentials)
    if found is None:
        failures.spend(address)
        raise Unauthorized("the token is not valid")
    user, token = found
    request.state.token_id = token.id
    token_use: TokenUse = request.app.state.token_use
    token_use.note(token)
    # Give the connection back to the pool: a handler that next waits on something else (a
    # query embedding queued behind an ingestion, a model) must not hold one meanwhile. Under
    # reads during ingestion, held connections emptied the pool: 30 s waits, then 500s.
    await session.commit()
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def rate_limited(action: str) -> Any:
    """A route dependency spending one of the caller's `action` allowance (429 when none is
    left): `dependencies=[rate_limited("chat")]`. Spent before the work starts, so that
    concurrent requests cannot all pass; given back when the request fails (an invalid body,
    an unknown notebook), which did no expensive work."""

    async def take(request: Request, user: CurrentUser) -> AsyncIterator[None]:
        limiter: RateLimiter = getattr(get_rate_limits(request), action)
        key = user.id  # read now: after a failed flush the row cannot be read again
        limiter.take(key)
        try:
            yield
        except Exception:
            limiter.refund(key)
            raise

    return Depends(take, scope="function")
