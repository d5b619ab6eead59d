"""Reviewing a notebook's due cards: the soonest due card's front, its answer behind a flip,
the four ratings (FSRS schedules the next review), then the next card; editing and
suspending a card; the Anki and CSV exports; and `/review`, every notebook's due count.

Everything works as plain forms and links: the answer is a `<details>` (opened by a click
with no script), each rating a submit button. `static/review.js` only adds the keys (Space
flips, 1-4 rate). After each change the browser is sent back to the review page (post,
redirect, get: a reload never rates twice) with what was done in the query (`last`, `did`),
so the page can say when the card just rated is due again. All goes through the study
service, as the API's routes do."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.deps import SessionDep
from learningtool.errors import InvalidInput, NotFound
from learningtool.models import CardState, Notebook, StudyItem, User, utcnow
from learningtool.notebook import service as notebook_service
from learningtool.source import service as source_service
from learningtool.study import schedule
from learningtool.study import service as study_service
from learningtool.study.router import export_response
from learningtool.web.auth import ChangingUser, PageRoute, PageUser
from learningtool.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

NotebookId = Annotated[str, Path(max_length=64)]
CardId = Annotated[str, Path(max_length=64)]
CardText = Annotated[str, Form(max_length=20_000)]  # the service's limit is said in words
MAX_CARD_CHARS = 2000  # as the API's `CardUpdate`
WHAT = {"front": "question", "back": "answer"}
SUSPENDED_SHOWN = 50  # the rest are counted, and resumed through the API or an export
# The ratings in the order of their keys (1-4) and buttons.
RATINGS: dict[schedule.RatingName, str] = {
    "again": "Again",
    "hard": "Hard",
    "good": "Good",
    "easy": "Easy",
}
Did = Literal["again", "hard", "good", "easy", "edited", "suspended", "resumed"]
MONTHS = (
    "January February March April May June July August September October November December"
).split()


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def due_phrase(due_at: datetime, now: datetime) -> str:
    """When a card is due, as a learner reads it: "now", "in 10 minutes", "in 3 hours",
    "tomorrow", or "on 5 December" (with the year when it is not this one). Dates are UTC,
    the server's only clock that every browser agrees on."""
    wait = due_at - now
    if wait <= timedelta(seconds=30):
        return "now"
    if wait < timedelta(hours=1):
        return "in " + _plural(max(1, round(wait.total_seconds() / 60)), "minute")
    if wait < timedelta(hours=20) or due_at.date() == now.date():
        return "in " + _plural(round(wait.total_seconds() / 3600), "hour")
    if due_at.date() == now.date() + timedelta(days=1):
        return "tomorrow"
    year = f" {due_at.year}" if due_at.year != now.year else ""
    return f"on {due_at.day} {MONTHS[due_at.month - 1]}{year}"


def interval_label(wait: timedelta) -> str:
    """The short wait a rating button shows ("10 min", "3 d", "2 mo")."""
    minutes = wait.total_seconds() / 60
    for limit, unit, size in ((60, "min", 1), (24 * 60, "h", 60), (31 * 24 * 60, "d", 1440)):
        if minutes < limit:
            return f"{max(1, round(minutes / size))} {unit}"
    if minutes < 365 * 24 * 60:
        return f"{round(minutes / (30 * 1440))} mo"
    return f"{minutes / (365 * 1440):.1f} y"


def previews(state: CardState, now: datetime) -> dict[str, str]:
    """What each rating would schedule, shown under its button (FSRS is a pure function:
    nothing is stored)."""
    return {
        rating: interval_label(schedule.review(state.fsrs, rating, now).due_at - now)
        for rating in RATINGS
    }


async def _owned(session: AsyncSession, user: User, notebook_id: str) -> Notebook:
    """Another user's notebook is a 404, as an unknown one (never a 403)."""
    return await notebook_service.get_notebook(session, owner_id=user.id, notebook_id=notebook_id)


def _front(item: StudyItem) -> str:
    return str(item.payload.get("front", ""))


def _back(item: StudyItem) -> str:
    return str(item.payload.get("back", ""))


def review_url(notebook: Notebook, card_id: str | None = None, did: str | None = None) -> str:
    """The review page, saying what was just done to which card."""
    query = urlencode({"last": card_id, "did": did}) if card_id and did else ""
    return f"/notebooks/{notebook.id}/review" + (f"?{query}" if query else "")


async def _notice(
    session: AsyncSession, notebook: Notebook, last: str | None, did: str | None, now: datetime
) -> dict[str, Any] | None:
    """What the page says about the card just rated, edited, suspended or resumed; nothing
    for a card that is not (or no longer) in this notebook."""
    if not last or not did:
        return None
    try:
        item, state = await study_service.get_card(session, notebook, last)
    except NotFound:
        return None
    return {
        "card_id": item.id,
        "front": _front(item),
        "did": did,
        "rating": RATINGS.get(cast(schedule.RatingName, did)),
        "due": due_phrase(state.due_at, now),
        "due_at": state.due_at,
    }


async def _due_count(session: AsyncSession, user: User, notebook: Notebook) -> int:
    counts = await notebook_service.notebook_counts(session, owner_id=user.id)
    return counts.get(notebook.id, notebook_service.Counts()).cards_due


async def _card_context(session: AsyncSession, notebook: Notebook, now: datetime) -> dict[str, Any]:
    """The card to review now (the soonest due) with its source and the ratings' waits, or,
    when none is due, the soonest card to come (for the empty state)."""
    due = await study_service.list_cards(session, notebook, due_before=now, limit=1)
    if not due.cards:
        soonest = await study_service.list_cards(session, notebook, due_before=None, limit=1)
        following = soonest.cards[0][1].due_at if soonest.cards else None
        return {
            "card": None,
            "next_due": due_phrase(following, now) if following else None,
            "next_due_at": following,
        }
    item, state = due.cards[0]
    source = await source_service.get_source(session, notebook, item.source_id)
    return {
        "card": item,
        "front": _front(item),
        "back": _back(item),
        "source": source,
        "previews": previews(state, now),
        "new": state.last_review_at is None,
    }


@router.get("/notebooks/{notebook_id}/review")
async def review_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    notebook_id: NotebookId,
    last: Annotated[str | None, Query(max_length=64)] = None,
    did: Did | None = None,
) -> Response:
    notebook = await _owned(session, user, notebook_id)
    now = utcnow()
    suspended, suspended_total = await study_service.list_suspended(
        session, notebook, limit=SUSPENDED_SHOWN
    )
    context = {
        "suspended": [(item.id, _front(item)) for item, _state in suspended],
        "suspended_total": suspended_total,
        "notebook": notebook,
        "due_count": await _due_count(session, user, notebook),
        "notice": await _notice(session, notebook, last, did, now),
        "ratings": RATINGS,
        **await _card_context(session, notebook, now),
    }
    return render(request, "review.html", context)


@router.post("/notebooks/{notebook_id}/review/cards/{card_id}/rate")
async def rate(
    session: SessionDep,
    user: ChangingUser,
    notebook_id: NotebookId,
    card_id: CardId,
    rating: Annotated[str, Form(max_length=20)],
) -> Response:
    """Record a review. A value that is not a rating is refused in words (a hand-made form:
    the page's buttons send only the four)."""
    notebook = await _owned(session, user, notebook_id)
    if rating not in RATINGS:
        choices = ", ".join(RATINGS.values())
        raise InvalidInput(f"“{rating[:20]}” is not a rating: choose one of {choices}")
    await study_service.review(session, notebook, card_id, rating)
    return RedirectResponse(review_url(notebook, card_id, rating), status_code=303)


async def _edit_page(
    request: Request,
    notebook: Notebook,
    card_id: str,
    front: str,
    back: str,
    *,
    error: str | None = None,
) -> Response:
    context = {"notebook": notebook, "card_id": card_id, "front": front, "back": back}
    return render(
        request, "review_edit.html", {**context, "error": error}, status_code=422 if error else 200
    )


@router.get("/notebooks/{notebook_id}/review/cards/{card_id}/edit")
async def edit_page(
    request: Request, session: SessionDep, user: PageUser, notebook_id: NotebookId, card_id: CardId
) -> Response:
    notebook = await _owned(session, user, notebook_id)
    item, _state = await study_service.get_card(session, notebook, card_id)
    return await _edit_page(request, notebook, item.id, _front(item), _back(item))


def card_text_error(front: str, back: str) -> str | None:
    """Why a card's text cannot be saved, in words (the API's limits), or None."""
    for side, text in (("front", front), ("back", back)):
        if not text.strip():
            return f"The card's {side} is empty: write its {WHAT[side]}."
        if len(text) > MAX_CARD_CHARS:
            return f"The card's {side} is too long: at most {MAX_CARD_CHARS} characters."
    return None


@router.post("/notebooks/{notebook_id}/review/cards/{card_id}/edit")
async def edit(
    request: Request,
    session: SessionDep,
    user: ChangingUser,
    notebook_id: NotebookId,
    card_id: CardId,
    front: CardText,
    back: CardText,
) -> Response:
    notebook = await _owned(session, user, notebook_id)
    item, _state = await study_service.get_card(session, notebook, card_id)
    error = card_text_error(front, back)
    if error:
        return await _edit_page(request, notebook, item.id, front, back, error=error)
    await study_service.edit_card(
        session, notebook, item.id, front=front.strip(), back=back.strip(), suspended=None
    )
    return RedirectResponse(review_url(notebook, item.id, "edited"), status_code=303)


async def _suspend(
    session: AsyncSession, user: User, notebook_id: str, card_id: str, on: bool
) -> Response:
    notebook = await _owned(session, user, notebook_id)
    await study_service.edit_card(session, notebook, card_id, front=None, back=None, suspended=on)
    did = "suspended" if on else "resumed"
    return RedirectResponse(review_url(notebook, card_id, did), status_code=303)


@router.post("/notebooks/{notebook_id}/review/cards/{card_id}/suspend")
async def suspend(
    session: SessionDep, user: ChangingUser, notebook_id: NotebookId, card_id: CardId
) -> Response:
    """Take a card out of the reviews (kept, and exported as suspended) until resumed."""
    return await _suspend(session, user, notebook_id, card_id, True)


@router.post("/notebooks/{notebook_id}/review/cards/{card_id}/resume")
async def resume(
    session: SessionDep, user: ChangingUser, notebook_id: NotebookId, card_id: CardId
) -> Response:
    return await _suspend(session, user, notebook_id, card_id, False)


@router.get("/notebooks/{notebook_id}/review/export")
async def export(
    session: SessionDep,
    user: PageUser,
    notebook_id: NotebookId,
    format: Literal["csv", "anki"] = "anki",
) -> Response:
    """The same file as the API's `/cards/export`, for the page's buttons (the session's
    cookie authenticates a download link; the API takes bearer tokens only)."""
    notebook = await _owned(session, user, notebook_id)
    return await export_response(session, notebook, format)


@router.get("/review")
async def all_reviews(request: Request, session: SessionDep, user: PageUser) -> Response:
    """Every notebook of the user with its cards due now, each linking to its review."""
    notebooks = await notebook_service.list_notebooks(session, owner_id=user.id)
    counts = await notebook_service.notebook_counts(session, owner_id=user.id)
    due = {
        notebook.id: counts.get(notebook.id, notebook_service.Counts()).cards_due
        for notebook in notebooks
    }
    context = {"notebooks": notebooks, "due": due, "total": sum(due.values())}
    return render(request, "reviews.html", context)
