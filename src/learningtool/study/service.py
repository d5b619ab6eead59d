"""Study items and card reviews: list, review with FSRS, edit, suspend, delete, export."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool import cursor as cursors
from learningtool.errors import InvalidInput, NotFound
from learningtool.models import (
    CardReview,
    CardState,
    Chunk,
    FeedItem,
    Notebook,
    Source,
    StudyItem,
    utcnow,
)
from learningtool.study import cards_export, schedule


def _cards(notebook_id: str) -> Select[StudyItem, CardState]:
    return (
        select(StudyItem, CardState)
        .join(CardState, CardState.item_id == StudyItem.id)
        .where(StudyItem.notebook_id == notebook_id, StudyItem.kind == "flashcard")
    )


async def list_cards(
    session: AsyncSession,
    notebook: Notebook,
    *,
    due_before: datetime | None,
    limit: int,
    include_suspended: bool = False,
    cursor: str | None = None,
) -> CardPage:
    """Cards by due date, soonest first (then by id); with `due_before`, only those due by
    then. A page ends with the cursor of the next one: the (due date, id) it starts after,
    so a review that moves a card while someone pages does not shift the other cards."""
    query = _cards(notebook.id)
    if due_before is not None:
        query = query.where(CardState.due_at <= due_before)
    if not include_suspended:
        query = query.where(CardState.suspended.is_(False))
    if cursor:
        moment, item_id = cursors.decode(cursor)
        query = query.where(
            tuple_(CardState.due_at, StudyItem.id)
            > tuple_(literal(moment, CardState.due_at.type), literal(item_id, StudyItem.id.type))
        )
    rows = await session.execute(query.order_by(CardState.due_at, StudyItem.id).limit(limit + 1))
    found = [(item, state) for item, state in rows.all()]
    cards = found[:limit]
    more = len(found) > limit and cards
    return CardPage(cards, cursors.encode(cards[-1][1].due_at, cards[-1][0].id) if more else None)


async def list_suspended(
    session: AsyncSession, notebook: Notebook, *, limit: int
) -> tuple[list[tuple[StudyItem, CardState]], int]:
    """The notebook's suspended cards (first `limit`, oldest first) and how many there are:
    the review page lists them to resume."""
    query = _cards(notebook.id).where(CardState.suspended.is_(True))
    rows = await session.execute(query.order_by(StudyItem.created_at, StudyItem.id).limit(limit))
    total = await session.scalar(
        select(func.count()).where(
            CardState.notebook_id == notebook.id, CardState.suspended.is_(True)
        )
    )
    return [(item, state) for item, state in rows.all()], int(total or 0)


@dataclass
class CardPage:
    cards: list[tuple[StudyItem, CardState]]
    next_cursor: str | None


async def get_card(
    session: AsyncSession, notebook: Notebook, item_id: str
) -> tuple[StudyItem, CardState]:
    row = (await session.execute(_cards(notebook.id).where(StudyItem.id == item_id))).first()
    if row is None:
        raise NotFound("card not found")
    return row[0], row[1]


async def review(
    session: AsyncSession,
    notebook: Notebook,
    item_id: str,
    rating: schedule.RatingName,
    *,
    now: datetime | None = None,
    duration_ms: int | None = None,
) -> tuple[StudyItem, CardState, float]:
    """Apply a review; returns the card, its new state and the recall probability the
    model gave it just before (how well the learner was expected to remember)."""
    item, state = await get_card(session, notebook, item_id)
    if state.suspended:
        raise InvalidInput("the card is suspended; unsuspend it to review it")
    moment = now or utcnow()
    result = schedule.review(state.fsrs, rating, moment, review_duration_ms=duration_ms)
    state.fsrs = result.state
    state.due_at = result.due_at
    state.stability = result.stability
    state.difficulty = result.difficulty
    state.reps = int(result.state.get("reps", 0))
    state.last_review_at = moment
    session.add(
        CardReview(
            item_id=item.id,
            rating=schedule.RATINGS[rating].value,
            reviewed_at=moment,
            log=result.review_log,
        )
    )
    await session.flush()
    return item, state, result.retrievability_before


async def edit_card(
    session: AsyncSession,
    notebook: Notebook,
    item_id: str,
    *,
    front: str | None,
    back: str | None,
    suspended: bool | None,
) -> tuple[StudyItem, CardState]:
    item, state = await get_card(session, notebook, item_id)
    payload = dict(item.payload)
    if front is not None:
        payload["front"] = front
    if back is not None:
        payload["back"] = back
    if front is not None or back is not None:
        payload["edited"] = True
        item.payload = payload
        item.updated_at = utcnow()
        feed_item = await session.scalar(
            select(FeedItem).where(FeedItem.kind == "flashcard", FeedItem.ref_id == item.id)
        )
        if feed_item is not None:
            feed_item.title, feed_item.body = payload["front"], payload["back"]
    if suspended is not None:
        state.suspended = suspended
    await session.flush()
    return item, state


async def delete_card(session: AsyncSession, notebook: Notebook, item_id: str) -> None:
    item, _state = await get_card(session, notebook, item_id)
    await session.execute(
        delete(FeedItem).where(FeedItem.kind == "flashcard", FeedItem.ref_id == item.id)
    )
    await session.delete(item)
    await session.flush()


def retrievability_now(state: CardState, now: datetime | None = None) -> float | None:
    if state.last_review_at is None:
        return None
    return schedule.retrievability(state.fsrs, now or utcnow())


async def export_cards(session: AsyncSession, notebook: Notebook, fmt: str) -> bytes:
    """The notebook's cards as CSV or an Anki package, scheduling state included."""
    rows = (
        await session.execute(
            _cards(notebook.id)
            .add_columns(Source.title, Source.tags, Chunk.page, Chunk.slide, Chunk.audio_start)
            .join(Source, Source.id == StudyItem.source_id)
            .outerjoin(Chunk, Chunk.id == StudyItem.chunk_id)
            .order_by(StudyItem.created_at, StudyItem.id)
        )
    ).all()
    logs = await _review_logs(session, [item.id for item, *_ in rows])
    cards = [
        cards_export.ExportCard(
            item_id=item.id,
            front=str(item.payload.get("front", "")),
            back=str(item.payload.get("back", "")),
            cloze=item.payload.get("style") == "cloze",
            source_title=title,
            page=page,
            slide=slide,
            seconds=seconds,
            tags=tuple(tags or ()),
            state=state.fsrs if state.last_review_at is not None else None,
            suspended=state.suspended,
            reviews=tuple(logs.get(item.id, ())),
        )
        for item, state, title, tags, page, slide, seconds in rows
    ]
    if fmt == "csv":
        return cards_export.export_csv(cards)
    return await asyncio.to_thread(  # genanki writes a temporary collection file
        cards_export.export_apkg,
        cards,
        notebook_id=notebook.id,
        deck_name=notebook.name,
        now=utcnow(),
    )


async def _review_logs(session: AsyncSession, item_ids: Sequence[str]) -> dict[str, list[Any]]:
    logs: dict[str, list[Any]] = {}
    for first in range(0, len(item_ids), 500):
        rows = await session.execute(
            select(CardReview.item_id, CardReview.log)
            .where(CardReview.item_id.in_(item_ids[first : first + 500]))
            .order_by(CardReview.reviewed_at)
        )
        for item_id, log in rows.all():
            logs.setdefault(item_id, []).append(log)
    return logs


async def list_items(
    session: AsyncSession,
    notebook: Notebook,
    *,
    kind: str | None,
    source_id: str | None,
    limit: int,
) -> list[StudyItem]:
    query = select(StudyItem).where(StudyItem.notebook_id == notebook.id)
    if kind:
        query = query.where(StudyItem.kind == kind)
    if source_id:
        query = query.where(StudyItem.source_id == source_id)
    return list(
        await session.scalars(query.order_by(StudyItem.created_at, StudyItem.id).limit(limit))
    )
