"""Users and bearer tokens. Tokens are random, shown once, and stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.errors import Conflict, InvalidInput, NotFound
from learningtool.models import ApiToken, User, utcnow

TOKEN_PREFIX = "lt_"
LAST_USED_RESOLUTION = timedelta(minutes=5)  # avoid a write on every request


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
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), name=name))
    await session.flush()
    return token


async def authenticate(session: AsyncSession, token: str) -> User | None:
    """The user a token belongs to, or None. Compared by hash lookup: the hash of a random
    256-bit token leaks nothing useful through timing."""
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
    now = utcnow()
    if api_token.last_used_at is None or now - api_token.last_used_at > LAST_USED_RESOLUTION:
        await session.execute(
            update(ApiToken).where(ApiToken.id == api_token.id).values(last_used_at=now)
        )
    return user


async def ensure_local_user(session: AsyncSession) -> str | None:
    """On the first start (no user at all), create the user `local` and return its token."""
    if await session.scalar(select(User.id).limit(1)) is not None:
        return None
    user = await create_user(session, "local")
    return await issue_token(session, user, name="first-start")
