"""Browser sessions and one-time sign-in codes.

A session is a random value in an HttpOnly cookie; the database keeps only its SHA-256 hash
(`WebSession`), so a copy of the database signs nobody in. The CSRF token of a session is
derived from the cookie's value (an HMAC), so it needs no storage and a page of one session
cannot be replayed in another.

A sign-in code is what the printed link carries (as Jupyter's): random, kept in this
process's memory only, used once, expiring after minutes. A restart forgets the codes and
prints a new link."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.models import User, WebSession, utcnow

COOKIE = "lt_session"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def csrf_token(secret: str) -> str:
    """The token pages send back with each change: only a page rendered for this cookie
    knows it (a cross-site form cannot read the cookie, or our pages)."""
    return hmac.new(secret.encode(), b"learningtool-csrf", hashlib.sha256).hexdigest()


async def open_session(session: AsyncSession, user_id: str, lifetime: timedelta) -> str:
    """A new session for `user_id`; its cookie value is returned, the only time it exists in
    clear. The user's expired sessions are removed on the way (rows do not pile up)."""
    now = utcnow()
    await session.execute(
        delete(WebSession).where(WebSession.user_id == user_id, WebSession.expires_at <= now)
    )
    secret = secrets.token_urlsafe(32)
    session.add(WebSession(session_hash=_hash(secret), user_id=user_id, expires_at=now + lifetime))
    await session.flush()
    return secret


async def find_user(session: AsyncSession, secret: str) -> User | None:
    """The user of a live session, or None (unknown, signed out or expired)."""
    user: User | None = await session.scalar(
        select(User)
        .join(WebSession, WebSession.user_id == User.id)
        .where(WebSession.session_hash == _hash(secret), WebSession.expires_at > utcnow())
    )
    return user


async def close_session(session: AsyncSession, secret: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.session_hash == _hash(secret)))


class SignInCodes:
    """One-time codes of the printed sign-in links: code hash -> (user id, deadline)."""

    def __init__(self, lifetime_seconds: float) -> None:
        self.lifetime = lifetime_seconds
        self._codes: dict[str, tuple[str, float]] = {}

    def issue(self, user_id: str) -> str:
        now = time.monotonic()
        self._codes = {k: v for k, v in self._codes.items() if v[1] > now}
        code = secrets.token_urlsafe(32)
        self._codes[_hash(code)] = (user_id, now + self.lifetime)
        return code

    def redeem(self, code: str) -> str | None:
        """The user the code signs in, once: a second use, or a use after its deadline,
        is None."""
        entry = self._codes.pop(_hash(code), None)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]
