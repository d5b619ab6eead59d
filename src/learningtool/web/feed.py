"""A notebook's knowledge feed in the browser: its items newest first, filtered by kind (with
the count of each) or by a search, and where each item comes from.

Paging is the feed's keyset cursor (`feed.service.page`), never an offset, so a page deep in
100,000 items costs what the first one does. The page ends with a "More" link to the same page
at the next cursor, which works without JavaScript; with htmx the link loads the next items
in place when it scrolls into view (or is clicked) from `/feed/more`, a fragment that ends
with the next such link. Errors there come back as a fragment in words (`static/feed.js` lets
htmx swap them in).

The number of items of each kind comes in after the page (`/feed/counts`): counting walks
every item of the notebook, the slowest part of the page at 100,000 items. Without
JavaScript the filters work, without their numbers.

An item's origin (`/feed/items/{id}/origin`) is the span of its source it was made from
(`feed.detail.detail_of`), highlighted in context: a fragment that htmx puts under the item
when its "Where it comes from" is opened, or, without JavaScript, a redirect to the source's
passage page. A research report has no span of its own: its origin lists its citations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.deps import SessionDep
from learningtool.errors import AppError
from learningtool.feed import service as feed_service
from learningtool.feed.detail import detail_of
from learningtool.models import FeedItem, Notebook, Source
from learningtool.source import service as source_service
from learningtool.web.auth import PageRoute, PageUser
from learningtool.web.sources import KIND_WORDS, _owned, in_context, sentence
from learningtool.web.templating import PAGE_HEADERS, render, render_part

router = APIRouter(route_class=PageRoute, include_in_schema=False)

NotebookId = Annotated[str, Path(max_length=64)]
ItemId = Annotated[str, Path(max_length=64)]
Kind = Literal["chunk", "summary", "qa", "flashcard", "research"]
KindQuery = Annotated[Kind | None, Query()]
SearchQuery = Annotated[str, Query(max_length=500)]
CursorQuery = Annotated[str | None, Query(max_length=200)]

PAGE_SIZE = 20
BODY_CHARS = 700  # of an item's text shown in the feed (a passage can be several thousand)
ORIGIN_REACH = 400  # characters shown on each side of an item's span under it
FILTER_WORDS = {
    "chunk": "Passages",
    "summary": "Summaries",
    "qa": "Questions",
    "flashcard": "Flashcards",
    "research": "Research",
}
ITEM_WORDS = {
    "chunk": "Passage",
    "summary": "Summary",
    "qa": "Question",
    "flashcard": "Flashcard",
    "research": "Research report",
}


@dataclass(frozen=True)
class Filters:
    """What the learner narrowed the feed to; every link of the page keeps it."""

    kind: str | None = None
    q: str = ""

    def query(self, cursor: str | None = None, **changes: str | None) -> str:
        values = {"kind": self.kind, "q": self.q, "cursor": cursor, **changes}
        kept = {name: value for name, value in values.items() if value}
        return "?" + urlencode(kept) if kept else ""


@dataclass(frozen=True)
class Asked:
    """A feed request's filters and where in the feed it starts (None: the newest)."""

    filters: Filters
    cursor: str | None


def asked_for(kind: KindQuery = None, q: SearchQuery = "", cursor: CursorQuery = None) -> Asked:
    """The query of the feed page and of its next-page fragment (they take the same)."""
    return Asked(Filters(kind, q.strip()), cursor)


AskedDep = Annotated[Asked, Depends(asked_for)]


async def owned_notebook(session: SessionDep, user: PageUser, notebook_id: NotebookId) -> Notebook:
    """The signed-in user's notebook; another user's is a 404, as an unknown one."""
    return await _owned(session, user, notebook_id)


OwnedNotebook = Annotated[Notebook, Depends(owned_notebook)]


def clipped(text: str, limit: int = BODY_CHARS) -> str:
    """`text` up to `limit` characters, cut at a blank (no word shown in part)."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip() + " …"


async def _source_titles(session: AsyncSession, items: list[FeedItem]) -> dict[str, str]:
    """The titles of the sources a page's items come from, in one query."""
    ids = {item.source_id for item in items if item.source_id}
    if not ids:
        return {}
    rows = await session.execute(select(Source.id, Source.title).where(Source.id.in_(ids)))
    return {source_id: title for source_id, title in rows.all()}


async def _items_context(
    session: AsyncSession, notebook: Notebook, filters: Filters, cursor: str | None
) -> dict[str, Any]:
    """One page of items and the links to the next one (none at the end)."""
    page = await feed_service.page(
        session,
        notebook.id,
        cursor=cursor,
        limit=PAGE_SIZE,
        kinds=(filters.kind,) if filters.kind else (),
        q=filters.q or None,
    )
    base = f"/notebooks/{notebook.id}/feed"
    following = page.next_cursor
    return {
        "notebook": notebook,
        "items": page.items,
        "titles": await _source_titles(session, page.items),
        "item_words": ITEM_WORDS,
        "clipped": clipped,
        "more_page": f"{base}{filters.query(following)}" if following else None,
        "more_part": f"{base}/more{filters.query(following)}" if following else None,
    }


async def _source_count(session: AsyncSession, notebook: Notebook) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Source).where(Source.notebook_id == notebook.id)
    )
    return int(count or 0)


@router.get("/notebooks/{notebook_id}/feed")
async def feed_page(
    request: Request,
    session: SessionDep,
    notebook: OwnedNotebook,
    asked: AskedDep,
) -> Response:
    """The feed with its filters; a cursor is where the "More" link of a page without
    JavaScript goes on."""
    filters, cursor = asked.filters, asked.cursor
    context: dict[str, Any] = {
        "notebook": notebook,
        "filters": filters,
        "counts": None,
        "filter_words": FILTER_WORDS,
        "cursor": cursor,
        "error": None,
        "items": [],
        "sources": None,
    }
    status_code = 200
    try:
        context.update(await _items_context(session, notebook, filters, cursor))
    except AppError as error:
        context["error"] = sentence(error.message)
        status_code = error.status_code
    asked_all = not (cursor or filters.kind or filters.q or context["error"])
    context["empty"] = asked_all and not context["items"]
    if context["empty"]:
        context["sources"] = await _source_count(session, notebook)
    return render(request, "feed.html", context, status_code=status_code)


@router.get("/notebooks/{notebook_id}/feed/counts")
async def kind_counts(
    request: Request, session: SessionDep, notebook: OwnedNotebook, asked: AskedDep
) -> Response:
    """The kind filters with the number of items of each, fetched by the page once it is
    shown: counting is a walk over every item of the notebook (tens of milliseconds at
    100,000 items), which the first paint does not wait for."""
    counts = await feed_service.counts(session, notebook.id)
    context = {
        "notebook": notebook,
        "filters": asked.filters,
        "counts": counts,
        "filter_words": FILTER_WORDS,
    }
    return _part(request, "_feed_kinds.html", context)


@router.get("/notebooks/{notebook_id}/feed/more")
async def more_items(
    request: Request,
    session: SessionDep,
    notebook: OwnedNotebook,
    asked: AskedDep,
) -> Response:
    """The next page's items and the link after them: what the "More" link is replaced with.
    A refusal (a cursor this app did not write) is a fragment in words too."""
    filters = asked.filters
    try:
        context = await _items_context(session, notebook, filters, asked.cursor)
    except AppError as error:
        restart = f"/notebooks/{notebook.id}/feed{filters.query()}"
        context = {"error": sentence(error.message), "restart": restart, "in_list": True}
        return _part(request, "_feed_error.html", context, error.status_code)
    return _part(request, "_feed_items.html", context)


def _part(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    """A fragment for htmx, with the page headers (it holds the learner's notebook)."""
    body = render_part(request, template, context)
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def passage_link(notebook_id: str, source_id: str, start: int, end: int) -> str:
    """The source's passage page with `start:end` highlighted (`web.sources.passage_page`)."""
    query = urlencode({"start": max(0, start), "end": max(0, end)})
    return f"/notebooks/{notebook_id}/sources/{source_id}/passage?{query}#span"


def citation_links(notebook_id: str, citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A report's citations as links: a passage to its passage page (the quote the report
    relied on when it has one), a web page to its address."""
    found = []
    for citation in citations:
        href = None
        if citation.get("kind") == "web":
            url = str(citation.get("url") or "")
            href = url if url.startswith(("https://", "http://")) else None  # no javascript:
        elif citation.get("source_id") and citation.get("start_char") is not None:
            start = citation.get("quote_start_char", citation["start_char"])
            end = citation.get("quote_end_char", citation.get("end_char", start))
            href = passage_link(notebook_id, citation["source_id"], start, end)
        found.append(
            {
                "n": citation.get("n"),
                "title": citation.get("source_title") or citation.get("title") or "",
                "quote": citation.get("quote") or "",
                "href": href,
                "web": citation.get("kind") == "web",
            }
        )
    return found


async def _origin_context(
    session: AsyncSession, notebook: Notebook, item: FeedItem
) -> dict[str, Any]:
    """What `_feed_origin.html` shows: the span in context, or a report's citations."""
    detail, span = await detail_of(session, item)
    context: dict[str, Any] = {"notebook": notebook, "item": item, "span": None, "citations": []}
    if item.kind == "research":
        context["citations"] = citation_links(notebook.id, list(detail.get("citations") or []))
    if span is None:
        return context
    source = await source_service.get_source(session, notebook, span["source_id"])
    start, end = span["start_char"], span["end_char"]
    context.update(
        span=span,
        source=source,
        kind_words=KIND_WORDS,
        parts=in_context(source.text or "", start, end, reach=ORIGIN_REACH),
        href=passage_link(notebook.id, source.id, start, end),
    )
    return context


@router.get("/notebooks/{notebook_id}/feed/items/{item_id}/origin")
async def item_origin(
    request: Request,
    session: SessionDep,
    notebook: OwnedNotebook,
    item_id: ItemId,
) -> Response:
    """Where an item comes from. htmx asks for the fragment shown under the item; a browser
    without JavaScript follows the link to the passage page itself (or, for an item with no
    span, a page with what there is)."""
    if request.headers.get("hx-request"):
        try:
            item = await feed_service.get_item(session, notebook.id, item_id)
            context = await _origin_context(session, notebook, item)
        except AppError as error:
            failed = {"error": sentence(error.message), "restart": request.url.path}
            return _part(request, "_feed_error.html", failed, error.status_code)
        return _part(request, "_feed_origin.html", context)
    item = await feed_service.get_item(session, notebook.id, item_id)
    context = await _origin_context(session, notebook, item)
    if context["span"] is not None:
        return RedirectResponse(context["href"], status_code=303)
    return render(request, "feed_origin.html", context)
