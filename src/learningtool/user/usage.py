"""When each token was last used, written apart from the request that used it.

Writing it inside the request made every request of a stale token a database write: on
SQLite that is the one write lock, which ingestion and the job queue hold often, so reads as
plain as a feed page waited seconds behind them (20+ s under `bench/loop_lag.py`). Now the
request only notes the use; one write per token and `LAST_USED_RESOLUTION` goes in a task of
its own, and a write that fails loses a timestamp, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from learningtool.models import ApiToken, utcnow

LAST_USED_RESOLUTION = timedelta(minutes=5)

Spawn = Callable[[Coroutine[Any, Any, None], str], Any]

log = structlog.get_logger(__name__)


class TokenUse:
    """Notes token uses; at most one write per token per `LAST_USED_RESOLUTION`."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], spawn: Spawn) -> None:
        self.sessions = sessions
        self.spawn = spawn
        self._noted: dict[str, datetime] = {}

    def note(self, token: ApiToken) -> None:
        """Record that `token` was used now, unless its stored or noted use is recent."""
        now = utcnow()
        known = [t for t in (token.last_used_at, self._noted.get(token.id)) if t is not None]
        if known and now - max(known) <= LAST_USED_RESOLUTION:
            return
        self._noted[token.id] = now
        self.spawn(self._write(token.id, now), "token-last-used")

    async def _write(self, token_id: str, moment: datetime) -> None:
        try:
            async with self.sessions() as session:
                await session.execute(
                    update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=moment)
                )
                await session.commit()
        except Exception as error:  # a lost timestamp is no reason to disturb anything
            log.warning("token_use_not_recorded", token_id=token_id, error=repr(error))
