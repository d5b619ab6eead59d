"""HTTP routes of study material: items, due cards, reviews, card edits, card export."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.deps import SessionDep
from learningtool.knowledge.export import filename
from learningtool.models import Notebook, utcnow
from learningtool.notebook.deps import NotebookDep
from learningtool.study import service
from learningtool.study.schemas import (
    CardPage,
    CardRead,
    CardUpdate,
    ReviewCreate,
    ReviewResult,
    StudyItemRead,
)

router = APIRouter(prefix="/notebooks/{notebook_id}", tags=["study"])


@router.get("/study-items")
async def list_items(
    notebook: NotebookDep,
    session: SessionDep,
    kind: Literal["summary", "qa", "flashcard"] | None = None,
    source_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[StudyItemRead]:
    items = await service.list_items(session, notebook, kind=kind, source_id=source_id, limit=limit)
    return [StudyItemRead.of(item) for item in items]


@router.get("/cards")
async def list_cards(
    notebook: NotebookDep,
    session: SessionDep,
    due: Annotated[bool, Query(description="Only cards due now.")] = False,
    due_before: Annotated[
        AwareDatetime | None, Query(description="With a time zone, e.g. 2026-12-03T10:00:00Z.")
    ] = None,
    include_suspended: bool = False,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor`.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CardPage:
    """Cards by due date, soonest first, a page at a time: pass `next_cursor` back as
    `cursor` for the next page (null on the last)."""
    before = due_before or (utcnow() if due else None)
    page = await service.list_cards(
        session,
        notebook,
        due_before=before,
        limit=limit,
        include_suspended=include_suspended,
        cursor=cursor,
    )
    cards = [
        CardRead.of(item, state, service.retrievability_now(state)) for item, state in page.cards
    ]
    return CardPage(cards=cards, next_cursor=page.next_cursor)


@router.get("/cards/export")
async def export_cards(
    notebook: NotebookDep, session: SessionDep, format: Literal["csv", "anki"] = "anki"
) -> Response:
    """All cards with their scheduling state: an Anki package (`.apkg`; when importing, tick
    "Import any learning progress" to keep it) or CSV."""
    return await export_response(session, notebook, format)


async def export_response(
    session: AsyncSession, notebook: Notebook, format: Literal["csv", "anki"]
) -> Response:
    """The export as a download named after the notebook; the web app's export button
    answers with this same file."""
    body = await service.export_cards(session, notebook, format)
    stem = filename(notebook.name).removesuffix(".md")
    if format == "csv":
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'},
        )
    return Response(
        body,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{stem}.apkg"'},
    )


@router.get("/cards/{item_id}")
async def get_card(item_id: str, notebook: NotebookDep, session: SessionDep) -> CardRead:
    item, state = await service.get_card(session, notebook, item_id)
    return CardRead.of(item, state, service.retrievability_now(state))


@router.post("/cards/{item_id}/review")
async def review_card(
    item_id: str, body: ReviewCreate, notebook: NotebookDep, session: SessionDep
) -> ReviewResult:
    """Record a review (again, hard, good, easy); FSRS schedules the next one."""
    item, state, before = await service.review(
        session, notebook, item_id, body.rating, duration_ms=body.duration_ms
    )
    return ReviewResult(
        card=CardRead.of(item, state, service.retrievability_now(state)),
        retrievability_before=before,
    )


@router.patch("/cards/{item_id}")
async def edit_card(
    item_id: str, body: CardUpdate, notebook: NotebookDep, session: SessionDep
) -> CardRead:
    item, state = await service.edit_card(
        session, notebook, item_id, front=body.front, back=body.back, suspended=body.suspended
    )
    return CardRead.of(item, state, service.retrievability_now(state))


@router.delete("/cards/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_card(item_id: str, notebook: NotebookDep, session: SessionDep) -> None:
    await service.delete_card(session, notebook, item_id)
