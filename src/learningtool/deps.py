"""FastAPI dependencies: the request's session (committed at the edge), the caller, the notebook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.context import AppContext
from learningtool.errors import Unauthorized
from learningtool.models import Notebook, User
from learningtool.notebook import service as notebook_service
from learningtool.ratelimit import RateLimiter, RateLimits
from learningtool.user import service as user_service


def get_app_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns (before the response
    is sent, so a failed commit is the client's error and not a silent loss), rolled back when
    it raises. Services flush; they never commit."""
    async with get_app_context(request).sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


_bearer = HTTPBearer(auto_error=False, description="A token from `learningtool users token`.")

AppDep = Annotated[AppContext, Depends(get_app_context)]
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
    user = await user_service.authenticate(session, credentials.credentials)
    if user is None:
        failures.spend(address)
        raise Unauthorized("the token is not valid")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def rate_limited(action: str) -> Any:
    """A route dependency spending one of the caller's `action` allowance (429 when none is
    left): `dependencies=[rate_limited("chat")]`. Spent before the work starts, so that
    concurrent requests cannot all pass; given back when the request fails (an invalid body,
    an unknown notebook), which did no expensive work."""

    async def take(request: Request, user: CurrentUser) -> AsyncIterator[None]:
        limiter: RateLimiter = getattr(get_rate_limits(request), action)
        limiter.take(user.id)
        try:
            yield
        except Exception:
            limiter.refund(user.id)
            raise

    return Depends(take, scope="function")


async def get_notebook(
    session: SessionDep, user: CurrentUser, notebook_id: Annotated[str, Path(max_length=64)]
) -> Notebook:
    """The notebook in the path, if the caller owns it; 404 otherwise (never 403, which would
    confirm that someone else's notebook exists)."""
    return await notebook_service.get_notebook(session, owner_id=user.id, notebook_id=notebook_id)


NotebookDep = Annotated[Notebook, Depends(get_notebook)]
