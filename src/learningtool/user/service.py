"""Users and bearer tokens. Tokens are random, shown once, and stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool import spans
from learningtool.errors import Conflict, InvalidInput, NotFound
from learningtool.models import ApiToken, User

TOKEN_PREFIX = "lt_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(session: AsyncSession, name: str) -> User:
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("a user name has 1 to 100 characters")
    user = User(name=name)
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError as error:
        raise Conflict(f"user {name!r} exists already") from error
    return user


async def get_user_by_name(session: AsyncSession, name: str) -> User:
    user = await session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


async def list_users(session: AsyncSession) -> list[User]:
    return list(await session.scalars(select(User).order_by(User.created_at)))


async def issue_token(session: AsyncSession, user: User, name: str = "default") -> str:
    """Create a token for `user` and return it in clear: the only time it is readable."""
    _row, token = await _issue(session, user, name)
    return token


async def _issue(session: AsyncSession, user: User, name: str) -> tuple[ApiToken, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=hash_token(token), name=name)
    session.add(row)
    await session.flush()
    return row, token


@spans.timed("user.authenticate")
async def authenticate(session: AsyncSession, token: str) -> tuple[User, ApiToken] | None:
    """The user a token belongs to and the token's row, or None. Compared by hash lookup:
    the hash of a random 256-bit token leaks nothing useful through timing. A read only:
    the caller notes the use (`usage.TokenUse`)."""
    row = (
        await session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == hash_token(token))
        )
    ).first()
    if row is None:
        return None
    api_token, user = row
    return user, api_token


async def ensure_local_user(session: AsyncSession) -> str | None:
    """On the first start (no user at all), create the user `local` and return its token."""
    if await session.scalar(select(User.id).limit(1)) is not None:
        return None
    user = await create_user(session, "local")
    return await issue_token(session, user, name="first-start")


async def list_tokens(session: AsyncSession, user: User) -> list[ApiToken]:
    rows = await session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at)
    )
    return list(rows)


async def revoke_token(session: AsyncSession, user: User, token_id: str) -> ApiToken:
    """Delete one of `user`'s tokens: it stops working with the next request. Another
    user's token id is a 404, as an unknown one."""
    token = await session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
    )
    if token is None:
        raise NotFound("token not found")
    await session.delete(token)
    await session.flush()
    return token


async def rotate_token(session: AsyncSession, user: User, token_id: str) -> tuple[ApiToken, str]:
    """Replace a token by a new one with the same label: its row, and the token in clear
    (the only time it is readable); the old one stops working at once."""
    old = await revoke_token(session, user, token_id)
    return await _issue(session, user, old.name)


async def revoke_all(session: AsyncSession, user: User) -> list[str]:
    """Delete every token of `user`; their hashes are returned (to find a kept copy)."""
    tokens = await list_tokens(session, user)
    for token in tokens:
        await session.delete(token)
    await session.flush()
    return [token.token_hash for token in tokens]


async def delete_user(session: AsyncSession, user: User) -> None:
    """Remove the user row (tokens and anything still owned go with it, by cascade). The
    caller purges the notebooks first: their files live outside the database."""
    await session.delete(user)
    await session.flush()
