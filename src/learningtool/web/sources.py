"""A notebook's page: its sources (status and progress live, the failure reason in words, a
retry), adding knowledge (files, pasted text, a URL), and one source's extracted text with
its chunk boundaries; deleting a source (confirmed).

Files are uploaded by `static/sources.js`, one request per file with its own progress bar,
the CSRF token as a header (the body is streamed to the blob store by the same
`receive_upload` the API uses, never parsed first to look for a form field). Text and URLs
are plain forms. Everything goes through the source service, as the API's routes do.

The live list is server-sent events, not polling: `/notebooks/{id}/events` sends the list's
HTML (the same fragment the page renders) whenever it changes. It re-reads the notebook's
sources when one of their running jobs signals a change in this process (the worker's
`job_changed`), and at least every `EVENT_POLL_SECONDS` (an upload from another tab, a job
run by another process, a deletion), so it costs one small query a second per open page.
The page's script swaps the fragment in; a browser reconnects by itself when the stream
drops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette import EventSourceResponse, ServerSentEvent

from learningtool.deps import AppDep, SessionDep, get_app_context, get_rate_limits
from learningtool.errors import AppError
from learningtool.ingestion.sniff import SUPPORTED
from learningtool.jobs.signals import Signals
from learningtool.models import Chunk, Notebook, Source, User
from learningtool.notebook import service as notebook_service
from learningtool.source import service as source_service
from learningtool.source.upload import receive_upload
from learningtool.web.auth import (
    CSRF_FIELD,
    ChangingUser,
    PageRoute,
    PageUser,
    StreamingUser,
    check_csrf,
    check_origin,
)
from learningtool.web.templating import render, render_part

if TYPE_CHECKING:
    from learningtool.context import AppContext

router = APIRouter(route_class=PageRoute, include_in_schema=False)

NotebookId = Annotated[str, Path(max_length=64)]
SourceId = Annotated[str, Path(max_length=64)]
EVENT_POLL_SECONDS = 1.0
WATCHED_JOBS = 50  # the running jobs a stream waits on at once (the rest: the poll)
CHUNKS_PER_PAGE = 200
CONTEXT_CHARS = 1200  # shown on each side of a highlighted span
MAX_TEXT_FORM_CHARS = 8 * 1024 * 1024  # the service holds it to `max_text_chars`

STATUS_WORDS = {
    "queued": "Waiting to be processed",
    "extracting": "Extracting the text",
    "indexing": "Indexing",
    "ready": "Ready",
    "failed": "Failed",
}
KIND_WORDS = {"file": "File", "text": "Pasted text", "url": "Web page", "research": "Research"}
DONE = frozenset({"ready", "failed"})


@contextlib.contextmanager
def _allowance(request: Request, user_id: str, action: str = "sources") -> Iterator[None]:
    """One of the user's `action` allowance ("sources added", "research runs"), as the
    API spends it (429 in words when none is left); given back when the change is refused."""
    limiter = getattr(get_rate_limits(request), action)
    limiter.take(user_id)
    try:
        yield
    except Exception:
        limiter.refund(user_id)
        raise


def sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


async def _owned(session: AsyncSession, user: User, notebook_id: str) -> Notebook:
    """Another user's notebook is a 404, as an unknown one (never a 403)."""
    return await notebook_service.get_notebook(session, owner_id=user.id, notebook_id=notebook_id)


def _list_context(notebook: Notebook, sources: list[Source]) -> dict[str, Any]:
    return {
        "notebook": notebook,
        "sources": sources,
        "status_words": STATUS_WORDS,
        "kind_words": KIND_WORDS,
    }


async def _notebook_page(
    request: Request,
    session: AsyncSession,
    notebook: Notebook,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    sources = await source_service.list_sources(session, notebook)
    max_bytes = get_app_context(request).settings.max_upload_bytes
    context = {
        **_list_context(notebook, sources),
        "error": error,
        "form": {"title": "", "text": "", "url": "", "url_title": "", **(form or {})},
        "max_upload_bytes": max_bytes,
        "max_upload_label": _megabytes(max_bytes),
        "supported": ", ".join(SUPPORTED),
    }
    return render(request, "notebook.html", context, status_code=status_code)


@router.get("/notebooks/{notebook_id}")
async def notebook_page(
    request: Request, session: SessionDep, user: PageUser, notebook_id: NotebookId
) -> Response:
    return await _notebook_page(request, session, await _owned(session, user, notebook_id))


@router.get("/notebooks/{notebook_id}/events")
async def source_events(
    request: Request, session: SessionDep, app: AppDep, user: PageUser, notebook_id: NotebookId
) -> EventSourceResponse:
    """A `sources` event (the list's HTML) now and after each change of this notebook's
    sources, until the browser goes away. Ownership is checked before the stream opens."""
    notebook = await _owned(session, user, notebook_id)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        last: str | None = None
        while True:
            async with app.sessions() as reader:
                sources = await source_service.list_sources(reader, notebook)
            html = render_part(request, "_sources.html", _list_context(notebook, sources))
            if html != last:
                last = html
                yield ServerSentEvent(data=html, event="sources")
            if await request.is_disconnected():
                return
            running = [s.job_id for s in sources if s.status not in DONE and s.job_id]
            await _any_job_changes(app.signals, running[:WATCHED_JOBS], EVENT_POLL_SECONDS)

    return EventSourceResponse(stream(), ping=15)


async def _any_job_changes(signals: Signals, job_ids: list[str], seconds: float) -> None:
    """Return when one of `job_ids` changes in this process, or after `seconds`."""
    if not job_ids:
        await asyncio.sleep(seconds)
        return
    waits = [asyncio.create_task(signals.wait_for_job(job_id, seconds)) for job_id in job_ids]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


@router.post("/notebooks/{notebook_id}/sources/file")
async def upload_file(
    request: Request, session: SessionDep, app: AppDep, user: StreamingUser, notebook_id: NotebookId
) -> Response:
    """One file (multipart field `file`), sent by the page's script. The answer is JSON for
    that script: `{"title", "source_id", "message"}`, or `{"error"}` in words with the
    status (413 too large, 415 a type we cannot read, 409 already in the notebook)."""
    notebook = await _owned(session, user, notebook_id)
    try:
        added = await _upload(request, session, app, user, notebook)
    except AppError as error:
        message = _refusal(error, app.settings.max_upload_bytes)
        return JSONResponse({"error": message}, status_code=error.status_code)
    if added.duplicate:
        message = _already_there("file", added)
        return JSONResponse({"error": message, "source_id": added.source.id}, status_code=409)
    body = {"title": added.source.title, "source_id": added.source.id, "message": "Added"}
    return JSONResponse(body, status_code=202)


@router.post("/notebooks/{notebook_id}/sources/upload")
async def upload_file_form(
    request: Request, session: SessionDep, app: AppDep, user: PageUser, notebook_id: NotebookId
) -> Response:
    """The same upload from the page's plain form, for a browser without JavaScript: one
    file, then back to the notebook, or the page again with the reason in words. The form's
    CSRF field comes before its file, and is checked before a byte of the file is stored."""
    check_origin(request)
    notebook = await _owned(session, user, notebook_id)

    def check_token(fields: dict[str, str]) -> None:
        check_csrf(request, fields.get(CSRF_FIELD, ""))

    try:
        added = await _upload(request, session, app, user, notebook, check_token)
    except AppError as error:
        message = _refusal(error, app.settings.max_upload_bytes)
        return await _notebook_page(
            request, session, notebook, error=message, status_code=error.status_code
        )
    if added.duplicate:
        return await _notebook_page(
            request, session, notebook, error=_already_there("file", added), status_code=409
        )
    return RedirectResponse(f"/notebooks/{notebook.id}", status_code=303)


async def _upload(
    request: Request,
    session: AsyncSession,
    app: AppContext,
    user: User,
    notebook: Notebook,
    before_file: Callable[[dict[str, str]], None] | None = None,
) -> source_service.Added:
    with _allowance(request, user.id):
        upload = await receive_upload(
            request,
            store=app.blobs,
            notebook_id=notebook.id,
            max_bytes=app.settings.max_upload_bytes,
            before_file=before_file,
        )
        return await source_service.add_upload(session, app, notebook, upload)


def _refusal(error: AppError, max_upload_bytes: int) -> str:
    """Why a file was refused, in words a learner can act on."""
    if error.status_code == 413:
        return f"This file is too large: the limit is {_megabytes(max_upload_bytes)} per file."
    if error.status_code == 415:
        return f"This type of file cannot be read. {sentence(error.message)}"
    return sentence(error.message)


def _already_there(what: str, added: source_service.Added) -> str:
    return f"This {what} is already in the notebook, as “{added.source.title}”."


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


@router.post("/notebooks/{notebook_id}/sources/text")
async def add_text(
    request: Request,
    session: SessionDep,
    app: AppDep,
    user: ChangingUser,
    notebook_id: NotebookId,
    text: Annotated[str, Form(max_length=MAX_TEXT_FORM_CHARS)],
    title: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    notebook = await _owned(session, user, notebook_id)
    form = {"title": title, "text": text}
    return await _add_from_form(
        request,
        session,
        user,
        notebook,
        lambda: source_service.add_text(
            session, app, notebook, text=text, title=title.strip(), tags=[]
        ),
        form,
        "text",
    )


@router.post("/notebooks/{notebook_id}/sources/url")
async def add_url(
    request: Request,
    session: SessionDep,
    app: AppDep,
    user: ChangingUser,
    notebook_id: NotebookId,
    url: Annotated[str, Form(max_length=2000)],
    title: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    notebook = await _owned(session, user, notebook_id)
    form = {"url": url, "url_title": title}
    return await _add_from_form(
        request,
        session,
        user,
        notebook,
        lambda: source_service.add_url(
            session, app, notebook, url=url, title=title.strip(), tags=[]
        ),
        form,
        "address",
    )


async def _add_from_form(
    request: Request,
    session: AsyncSession,
    user: User,
    notebook: Notebook,
    add: Callable[[], Awaitable[source_service.Added]],
    form: dict[str, str],
    what: str,
) -> Response:
    """Run an addition from a form: back to the notebook when it is added, or the page again
    with what was typed and the reason in words (a refusal, or already there: 409)."""
    try:
        with _allowance(request, user.id):
            added = await add()
    except AppError as error:
        message, status_code = sentence(error.message), error.status_code
    else:
        if not added.duplicate:
            return RedirectResponse(f"/notebooks/{notebook.id}", status_code=303)
        message, status_code = _already_there(what, added), 409
    return await _notebook_page(
        request, session, notebook, error=message, form=form, status_code=status_code
    )


@router.post("/notebooks/{notebook_id}/sources/{source_id}/retry")
async def retry(
    session: SessionDep, user: ChangingUser, notebook_id: NotebookId, source_id: SourceId
) -> Response:
    """Process a (failed) source again from its stored bytes: the API's reprocess."""
    notebook = await _owned(session, user, notebook_id)
    source = await source_service.get_source(session, notebook, source_id)
    await source_service.reprocess(session, notebook, source)
    return RedirectResponse(f"/notebooks/{notebook.id}", status_code=303)


@dataclass
class Segment:
    """A piece of the extracted text on the source page: a chunk's text (with where it
    comes from), or text between chunks that no chunk holds."""

    text: str
    chunk: Chunk | None = None
    overlap: int = 0  # characters of this chunk already shown with the previous one


def segments(text: str, chunks: list[Chunk]) -> list[Segment]:
    """The text from the first chunk's start to the last one's end, cut at each chunk's
    start: every boundary shows, and overlapping chunks show their shared part once."""
    found: list[Segment] = []
    shown = chunks[0].start_char if chunks else 0
    for chunk in chunks:
        if chunk.start_char > shown:
            found.append(Segment(text[shown : chunk.start_char]))
            shown = chunk.start_char
        start = max(shown, chunk.start_char)
        found.append(Segment(text[start : chunk.end_char], chunk, start - chunk.start_char))
        shown = max(shown, chunk.end_char)
    return found


@router.get("/notebooks/{notebook_id}/sources/{source_id}")
async def source_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    notebook_id: NotebookId,
    source_id: SourceId,
    after: Annotated[int, Query(ge=-1, le=2**31 - 1)] = -1,
) -> Response:
    """The extracted text, `CHUNKS_PER_PAGE` chunks at a time, each boundary marked with the
    chunk's page, slide or heading path."""
    notebook = await _owned(session, user, notebook_id)
    source = await source_service.get_source(session, notebook, source_id)
    chunks: list[Chunk] = []
    if source.text is not None:
        chunks = await source_service.list_chunks(
            session, source, after=after, limit=CHUNKS_PER_PAGE
        )
    context = {
        "notebook": notebook,
        "source": source,
        "segments": segments(source.text or "", chunks),
        "next_after": chunks[-1].ordinal if len(chunks) == CHUNKS_PER_PAGE else None,
        "after": after,
        "status_words": STATUS_WORDS,
        "kind_words": KIND_WORDS,
    }
    return render(request, "source.html", context)


def in_context(text: str, start: int, end: int, reach: int = CONTEXT_CHARS) -> list[str]:
    """`[before, span, after]`: the span of `text` with up to `reach` characters on each
    side, cut at a blank or a line end so that no word is shown in part."""
    start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
    start, end = min(start, end), max(start, end)
    first, last = max(0, start - reach), min(len(text), end + reach)
    if first > 0:
        cut = text.find(" ", first, start)
        first = cut + 1 if cut >= 0 else first
    if last < len(text):
        cut = text.rfind(" ", end, last)
        last = cut if cut >= 0 else last
    return [text[first:start], text[start:end], text[end:last]]


@router.get("/notebooks/{notebook_id}/sources/{source_id}/passage")
async def passage_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    notebook_id: NotebookId,
    source_id: SourceId,
    start: Annotated[int, Query(ge=0, le=2**31 - 1)],
    end: Annotated[int, Query(ge=0, le=2**31 - 1)],
) -> Response:
    """Where a card, a feed item, an answer or a report came from: the span `start:end` of
    the source's text highlighted in its context, with its page or heading and a link to
    the passage in the whole text. The study, chat and research views link here."""
    notebook = await _owned(session, user, notebook_id)
    source = await source_service.get_source(session, notebook, source_id)
    text = source_service.extracted_text(source)
    chunk = await source_service.chunk_at(session, source, min(start, max(len(text) - 1, 0)))
    context = {
        "notebook": notebook,
        "source": source,
        "parts": in_context(text, start, end),
        "chunk": chunk,
        "kind_words": KIND_WORDS,
    }
    return render(request, "passage.html", context)


@router.get("/notebooks/{notebook_id}/sources/{source_id}/delete")
async def delete_source_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    notebook_id: NotebookId,
    source_id: SourceId,
) -> Response:
    notebook = await _owned(session, user, notebook_id)
    source = await source_service.get_source(session, notebook, source_id)
    return render(request, "source_delete.html", {"notebook": notebook, "source": source})


@router.post("/notebooks/{notebook_id}/sources/{source_id}/delete")
async def delete_source(
    session: SessionDep, user: ChangingUser, notebook_id: NotebookId, source_id: SourceId
) -> Response:
    notebook = await _owned(session, user, notebook_id)
    source = await source_service.get_source(session, notebook, source_id)
    await source_service.delete_source(session, notebook, source)
    return RedirectResponse(f"/notebooks/{notebook.id}", status_code=303)
