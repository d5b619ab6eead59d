"""`/api/v1/me`: the caller's account and tokens."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, status

from learningtool.account import token_file
from learningtool.account.schemas import AccountRead, TokenIssued, TokenRead
from learningtool.deps import AppDep, CurrentUser, SessionDep
from learningtool.errors import Unauthorized
from learningtool.models import ApiToken
from learningtool.user import service

router = APIRouter(prefix="/me", tags=["account"])


def _current_token_id(request: Request) -> str:
    token_id: str = request.state.token_id  # set by authentication
    return token_id


@router.get("")
async def read_account(request: Request, session: SessionDep, user: CurrentUser) -> AccountRead:
    current = _current_token_id(request)
    tokens = [
        TokenRead.model_validate(token).model_copy(update={"current": token.id == current})
        for token in await service.list_tokens(session, user)
    ]
    return AccountRead(id=user.id, name=user.name, created_at=user.created_at, tokens=tokens)


@router.post("/token/rotate")
async def rotate_current_token(
    request: Request, session: SessionDep, user: CurrentUser, app: AppDep
) -> TokenIssued:
    """Replace the token of this request by a new one (shown once); the old one stops
    working at once. If it is the local token kept in the data directory, the file gets
    the new one."""
    old = await session.get(ApiToken, _current_token_id(request))
    if old is None:  # revoked by a concurrent request since authentication
        raise Unauthorized("the token is not valid")
    revoked = {old.token_hash}
    issued, token = await service.rotate_token(session, user, old.id)
    await session.commit()  # the kept copy changes only once the new token exists
    await asyncio.to_thread(token_file.replace_kept, app.settings.token_file, revoked, token)
    return TokenIssued(token=token, id=issued.id, name=issued.name)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: str, session: SessionDep, user: CurrentUser) -> None:
    """Revoke one of the caller's tokens (the current one too: that signs this client out)."""
    await service.revoke_token(session, user, token_id)
