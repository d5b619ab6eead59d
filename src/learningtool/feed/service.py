"""The feed: writing its rows (for the packages that create what they show) and reading
the timeline with keyset pagination.

Order is newest first by (`created_at`, `id`). A cursor is the (`created_at`, `id`) of the
last item of a page, and the next page holds what sorts strictly after it. Items added
while someone pages are newer than any cursor, so they never shift a page: every item
that existed when paging started is returned exactly once, in order.

The cursor condition is one row-value comparison, `(created_at, id) < (:moment, :id)`: both
databases start the index walk at the cursor with it, whereas the equivalent OR was a filter
that read every newer item first (30-60 ms deep in a 100,000-item feed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    column,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from learningtool import cursor as cursors
from learningtool.errors import NotFound
from learningtool.knowledge import lexical
from learningtool.models import FeedItem, utcnow

KINDS = ("chunk", "summary", "qa", "flashcard", "research")
BATCH_ROWS = 250
FEW_MATCHES = 500  # SQLite full text: up to this many matches, fetch them by rowid and sort


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
    return cursors.encode(item.created_at, item.id)


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
    match: _Match | None = None
    if q:
        match = await _matching(session, notebook_id, q)
        if match is None:
            return Page([], None)
    few = match is not None and match.rowids is not None
    notebook: ColumnElement[str] | InstrumentedAttribute[str] = FeedItem.notebook_id
    kind: ColumnElement[str] | InstrumentedAttribute[str] = FeedItem.kind
    if few:
        # Fetched by rowid: `+column` keeps SQLite from choosing the notebook's timeline
        # index instead (see `_matching`).
        notebook = literal_column("+feed_items.notebook_id", String)
        kind = literal_column("+feed_items.kind", String)
    timeline: list[ColumnElement[bool]] = [notebook == notebook_id]
    if kinds:
        timeline.append(kind.in_(kinds))
    if cursor:
        moment, item_id = cursors.decode(cursor)
        timeline.append(
            tuple_(FeedItem.created_at, FeedItem.id)
            < tuple_(literal(moment, FeedItem.created_at.type), literal(item_id, FeedItem.id.type))
        )
    rows = None
    if match is not None and match.fts is not None:
        rows = await _windowed(session, timeline, match.fts, limit)
    if rows is None:
        rows = await _rows(session, [*timeline, *([match.condition] if match else [])], limit)
    more = len(rows) > limit
    items = rows[:limit]
    return Page(items, encode_cursor(items[-1]) if more and items else None)


NEWEST_FIRST = (FeedItem.created_at.desc(), FeedItem.id.desc())
ROWID = literal_column("feed_items.rowid", Integer)
WINDOW = 500  # SQLite full text, many matches: timeline items whose rowids bound the search


async def _rows(
    session: AsyncSession, conditions: list[ColumnElement[bool]], limit: int
) -> list[FeedItem]:
    query = select(FeedItem).where(*conditions).order_by(*NEWEST_FIRST).limit(limit + 1)
    return list(await session.scalars(query))


async def _windowed(
    session: AsyncSession, timeline: list[ColumnElement[bool]], fts: str, limit: int
) -> list[FeedItem] | None:
    """SQLite, a word in many items: the page, probing only the matches whose rowids lie
    within those of the next `WINDOW` timeline items; None if that was not enough.

    Probing every match costs the set of all of them first (~40,000 rowids for a word in
    40% of 100,000 items: 10 ms). Rowids follow insertion, which follows time, so the
    matches the page needs have rowids near those of the timeline items it walks. The
    answer is exact when no item the walk passed (from the cursor to the page's last item,
    or to the end) has a rowid outside the bounds; otherwise the caller probes them all."""
    window = select(ROWID.label("r")).where(*timeline).order_by(*NEWEST_FIRST).limit(WINDOW)
    w = window.subquery()
    low, high, seen = (
        await session.execute(select(func.min(w.c.r), func.max(w.c.r), func.count()).select_from(w))
    ).one()
    if not seen:
        return []
    near = text(
        "SELECT rowid FROM feed_fts WHERE feed_fts MATCH :match AND rowid BETWEEN :low AND :high"
    ).bindparams(match=fts, low=low, high=high)
    rows = await _rows(
        session, [*timeline, ROWID.in_(near.columns(column("rowid", Integer)))], limit
    )
    if seen < WINDOW:
        return rows  # the window held the rest of the timeline: nothing lies outside it
    walked = list(timeline)
    if len(rows) > limit:
        last = rows[limit - 1]
        walked.append(
            tuple_(FeedItem.created_at, FeedItem.id)
            >= tuple_(
                literal(last.created_at, FeedItem.created_at.type),
                literal(last.id, FeedItem.id.type),
            )
        )
    outside = await session.scalar(
        select(literal(1)).where(*walked, ~ROWID.between(low, high)).limit(1)
    )
    return None if outside else rows


@dataclass(frozen=True)
class _Match:
    condition: ColumnElement[bool]
    rowids: list[int] | None = None  # SQLite, few matches: all of their rowids
    fts: str | None = None  # SQLite, many matches: the FTS expression, for `_windowed`


async def _matching(session: AsyncSession, notebook_id: str, q: str) -> _Match | None:
    """The condition on items whose title or text match every word of `q`; None when
    nothing can match.

    PostgreSQL plans this well from its statistics (the GIN index, or the timeline index
    when a word is common). SQLite has no statistics and always walks the notebook's
    timeline, probing the set of matches: quick when matches are common, a walk over the
    whole timeline when they are rare. So the matches are counted first, up to
    `FEW_MATCHES` (cheap: FTS rowids only, none of its stored columns are read): that many
    or fewer are fetched by rowid and sorted; more go through the timeline walk, which then
    soon finds a page of them (`_windowed`). An FTS row has the rowid of its item (triggers
    of 0003); the notebook is checked on the item.
    """
    words = lexical.terms(q)
    if not words:
        return None
    bind = session.bind
    assert bind is not None
    if bind.dialect.name != "sqlite":
        matching = text(
            "SELECT id FROM feed_items WHERE notebook_id = :nb "
            "AND tsv @@ plainto_tsquery('english', :words)"
        ).bindparams(nb=notebook_id, words=" ".join(words))
        return _Match(FeedItem.id.in_(matching.columns(column("id", String))))
    match = " AND ".join('"' + word.replace('"', "") + '"' for word in words)
    rowids = list(
        await session.scalars(
            text("SELECT rowid FROM feed_fts WHERE feed_fts MATCH :match LIMIT :n"),
            {"match": match, "n": FEW_MATCHES + 1},
        )
    )
    if not rowids:
        return None
    if len(rowids) <= FEW_MATCHES:
        return _Match(ROWID.in_(rowids), rowids=rowids)
    every = text("SELECT rowid FROM feed_fts WHERE feed_fts MATCH :match").bindparams(match=match)
    return _Match(ROWID.in_(every.columns(column("rowid", Integer))), fts=match)


async def counts(session: AsyncSession, notebook_id: str) -> dict[str, int]:
    """Items per kind: one count per kind over its range of the (notebook, kind, ...) index,
    in one statement. SQLite counts a range's entries without reading them, whereas a
    GROUP BY reads each entry's kind: 11 ms against 24 at 100,000 items."""
    per_kind = [
        select(func.count())
        .where(FeedItem.notebook_id == notebook_id, FeedItem.kind == kind)
        .scalar_subquery()
        for kind in KINDS
    ]
    row = (await session.execute(select(*per_kind))).one()
    return {kind: int(count) for kind, count in zip(KINDS, row, strict=True)}


async def get_item(session: AsyncSession, notebook_id: str, item_id: str) -> FeedItem:
    item = await session.scalar(
        select(FeedItem).where(FeedItem.id == item_id, FeedItem.notebook_id == notebook_id)
    )
    if item is None:
        raise NotFound("feed item not found")
    return item
