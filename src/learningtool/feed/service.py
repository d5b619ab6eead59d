"""The feed: writing its rows (for the packages that create what they show) and reading
the timeline with keyset pagination.

Order is newest first by (`created_at`, `id`). A cursor is the (`created_at`, `id`) of the
last item of a page, and the next page holds what sorts strictly after it. Items added
while someone pages are newer than any cursor, so they never shift a page: every item
that existed when paging started is returned exactly once, in order.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, column, false, func, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.errors import InvalidInput, NotFound
from learningtool.knowledge import lexical
from learningtool.models import FeedItem, utcnow

KINDS = ("chunk", "summary", "qa", "flashcard", "research")
BATCH_ROWS = 250


@dataclass(frozen=True)
class NewItem:
    kind: str
    ref_id: str
    title: str
    body: str
    source_id: str | None = None


async def add_items(
    session: AsyncSession, notebook_id: str, items: Sequence[NewItem], *, at: datetime | None = None
) -> None:
    """Insert feed rows in the caller's transaction (in batches: bounded loop time)."""
    now = at or utcnow()
    for first in range(0, len(items), BATCH_ROWS):
        await session.execute(
            insert(FeedItem),
            [
                {
                    "notebook_id": notebook_id,
                    "source_id": item.source_id,
                    "kind": item.kind,
                    "ref_id": item.ref_id,
                    "title": item.title[:500],
                    "body": item.body,
                    "created_at": now,
                }
                for item in items[first : first + BATCH_ROWS]
            ],
        )


def encode_cursor(item: FeedItem) -> str:
    raw = f"{item.created_at.isoformat()}|{item.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, item_id = raw.split("|", 1)
        return datetime.fromisoformat(moment), item_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("the cursor is not valid") from None


@dataclass
class Page:
    items: list[FeedItem]
    next_cursor: str | None


async def page(
    session: AsyncSession,
    notebook_id: str,
    *,
    cursor: str | None,
    limit: int,
    kinds: Sequence[str] = (),
    q: str | None = None,
) -> Page:
    query = select(FeedItem).where(FeedItem.notebook_id == notebook_id)
    if kinds:
        query = query.where(FeedItem.kind.in_(kinds))
    if q:
        query = query.where(FeedItem.id.in_(await _matching(session, notebook_id, q)))
    if cursor:
        moment, item_id = decode_cursor(cursor)
        query = query.where(
            or_(
                FeedItem.created_at < moment,
                and_(FeedItem.created_at == moment, FeedItem.id < item_id),
            )
        )
    rows = list(
        await session.scalars(
            query.order_by(FeedItem.created_at.desc(), FeedItem.id.desc()).limit(limit + 1)
        )
    )
    more = len(rows) > limit
    items = rows[:limit]
    return Page(items, encode_cursor(items[-1]) if more and items else None)


async def _matching(session: AsyncSession, notebook_id: str, q: str) -> Any:
    """A subquery of the ids of items whose title or text match every word of `q`."""
    words = lexical.terms(q)
    if not words:
        return select(FeedItem.id).where(false())
    bind = session.bind
    assert bind is not None
    if bind.dialect.name == "sqlite":
        match = " AND ".join('"' + word.replace('"', "") + '"' for word in words)
        matching = text(
            "SELECT item_id AS id FROM feed_fts WHERE feed_fts MATCH :match AND notebook_id = :nb"
        ).bindparams(match=match, nb=notebook_id)
    else:
        matching = text(
            "SELECT id FROM feed_items WHERE notebook_id = :nb "
            "AND tsv @@ plainto_tsquery('english', :words)"
        ).bindparams(nb=notebook_id, words=" ".join(words))
    return matching.columns(column("id", String))


async def counts(session: AsyncSession, notebook_id: str) -> dict[str, int]:
    rows = await session.execute(
        select(FeedItem.kind, func.count())
        .where(FeedItem.notebook_id == notebook_id)
        .group_by(FeedItem.kind)
    )
    found: dict[str, int] = {kind: count for kind, count in rows.all()}
    return {kind: found.get(kind, 0) for kind in KINDS}


async def get_item(session: AsyncSession, notebook_id: str, item_id: str) -> FeedItem:
    item = await session.scalar(
        select(FeedItem).where(FeedItem.id == item_id, FeedItem.notebook_id == notebook_id)
    )
    if item is None:
        raise NotFound("feed item not found")
    return item
