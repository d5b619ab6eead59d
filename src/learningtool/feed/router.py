"""HTTP routes of the feed: the timeline, counts per kind, one item with its source span."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from learningtool.deps import SessionDep
from learningtool.feed import service
from learningtool.feed.detail import detail_of
from learningtool.feed.schemas import FeedDetail, FeedItemRead, FeedPage
from learningtool.notebook.deps import NotebookDep

router = APIRouter(prefix="/notebooks/{notebook_id}/feed", tags=["feed"])

Kind = Literal["chunk", "summary", "qa", "flashcard", "research"]


@router.get("")
async def feed_page(
    notebook: NotebookDep,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 30,
    kind: Annotated[list[Kind] | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=500)] = None,
) -> FeedPage:
    """Newest first. Pages are stable: items added while paging never shift them."""
    page = await service.page(
        session, notebook.id, cursor=cursor, limit=limit, kinds=kind or (), q=q
    )
    return FeedPage(
        items=[FeedItemRead.model_validate(item) for item in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/counts")
async def feed_counts(notebook: NotebookDep, session: SessionDep) -> dict[str, int]:
    return await service.counts(session, notebook.id)


@router.get("/{item_id}")
async def feed_item(item_id: str, notebook: NotebookDep, session: SessionDep) -> FeedDetail:
    item = await service.get_item(session, notebook.id, item_id)
    detail, span = await detail_of(session, item)
    return FeedDetail(item=FeedItemRead.model_validate(item), detail=detail, source_span=span)
