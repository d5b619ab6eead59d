"""A notebook's chat: its sessions (start, rename, delete), a session's history, and asking.

Asking is one route for both kinds of page. A plain form post (no JavaScript) waits for the
answer and sends the browser back to the session, where it is shown complete. The page's
script (`static/chat.js`) posts the same form with `Accept: text/event-stream` and the CSRF
token as a header, and reads the answer as it is written: the API's events (`message`,
`retrieved`, `research`, `token`..., `citations`, `claims`, `done` or `error`), then an
`answer` event with the finished message's HTML (the fragment the page renders), so the
citations and claim marks are drawn once, by the server. Either way the answer is made by
the chat service in a task of its own: a browser that leaves finds it in the history."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette import EventSourceResponse, ServerSentEvent

from learningtool.chat import service as chat_service
from learningtool.chat.schemas import MessageCreate
from learningtool.deps import AppDep, SessionDep, get_rate_limits
from learningtool.models import ChatMessage, ChatSession, Notebook, User
from learningtool.notebook import service as notebook_service
from learningtool.web.auth import ChangingUser, PageRoute, PageUser
from learningtool.web.chat_view import message_view
from learningtool.web.templating import render, render_part

if TYPE_CHECKING:
    from learningtool.context import AppContext

router = APIRouter(route_class=PageRoute, include_in_schema=False)

NotebookId = Annotated[str, Path(max_length=64)]
SessionId = Annotated[str, Path(max_length=64)]
Title = Annotated[str, Form(max_length=200)]
MESSAGES_PER_PAGE = 50
MAX_QUESTION_CHARS = 8000


async def _owned(session: AsyncSession, user: User, notebook_id: str) -> Notebook:
    """Another user's notebook is a 404, as an unknown one (never a 403)."""
    return await notebook_service.get_notebook(session, owner_id=user.id, notebook_id=notebook_id)


async def _chat_of(
    session: AsyncSession, user: User, notebook_id: str, session_id: str
) -> tuple[Notebook, ChatSession]:
    """The notebook and its chat session; another user's (or another notebook's) is a 404."""
    notebook = await _owned(session, user, notebook_id)
    return notebook, await chat_service.get_session(session, notebook, user, session_id)


def _chat_url(notebook_id: str, session_id: str) -> str:
    return f"/notebooks/{notebook_id}/chat/{session_id}"


@router.get("/notebooks/{notebook_id}/chat")
async def chats_page(
    request: Request, session: SessionDep, user: PageUser, notebook_id: NotebookId
) -> Response:
    notebook = await _owned(session, user, notebook_id)
    chats = await chat_service.list_sessions(session, notebook, user)
    return render(request, "chats.html", {"notebook": notebook, "chats": chats})


@router.post("/notebooks/{notebook_id}/chat")
async def create_chat(
    session: SessionDep, user: ChangingUser, notebook_id: NotebookId, title: Title = ""
) -> Response:
    notebook = await _owned(session, user, notebook_id)
    chat = await chat_service.create_session(session, notebook, user, title.strip() or None)
    return RedirectResponse(_chat_url(notebook.id, chat.id), status_code=303)


async def _session_page(
    request: Request,
    session: AsyncSession,
    user: User,
    notebook: Notebook,
    chat: ChatSession,
    *,
    before: str | None = None,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    messages, older = await chat_service.history(
        session, chat, before=before, limit=MESSAGES_PER_PAGE
    )
    context = {
        "notebook": notebook,
        "chat": chat,
        "chats": await chat_service.list_sessions(session, notebook, user),
        "views": [message_view(m, notebook.id) for m in messages],
        "older": older,
        "paged": before is not None,
        "error": error,
        "form": {"content": "", "research": False, **(form or {})},
        "max_chars": MAX_QUESTION_CHARS,
    }
    return render(request, "chat.html", context, status_code=status_code)


@router.get("/notebooks/{notebook_id}/chat/{session_id}")
async def chat_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    notebook_id: NotebookId,
    session_id: SessionId,
    before: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The session's messages, oldest first (`before` pages back), and the ask form."""
    notebook, chat = await _chat_of(session, user, notebook_id, session_id)
    return await _session_page(request, session, user, notebook, chat, before=before)


def wants_stream(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


@router.post("/notebooks/{notebook_id}/chat/{session_id}/messages")
async def ask(
    request: Request,
    session: SessionDep,
    app: AppDep,
    user: ChangingUser,
    notebook_id: NotebookId,
    session_id: SessionId,
    content: Annotated[str, Form(max_length=MAX_QUESTION_CHARS)] = "",
    research: Annotated[bool, Form()] = False,
) -> Response:
    """Ask `content` (optionally after a research run). Streamed to the page's script, or,
    for a plain form post, answered by the session page once the answer is complete."""
    notebook, chat = await _chat_of(session, user, notebook_id, session_id)
    try:
        body = MessageCreate(content=content.strip(), research=research)
    except ValidationError:
        form = {"content": content, "research": research}
        error = "Type a question first."
        return await _session_page(
            request, session, user, notebook, chat, error=error, form=form, status_code=422
        )
    get_rate_limits(request).chat.take(user.id)  # 429 in words when none is left
    started = await chat_service.start(
        session, app, chat, body.content, k=body.k, mode=body.mode, research=body.research
    )
    if wants_stream(request):
        return EventSourceResponse(_relay(request, app, notebook.id, started), ping=15)
    await started.task
    reply_id = started.asked.reply.id
    return RedirectResponse(f"{_chat_url(notebook.id, chat.id)}#message-{reply_id}", 303)


async def _relay(
    request: Request, app: AppContext, notebook_id: str, started: chat_service.Started
) -> AsyncIterator[ServerSentEvent]:
    """The API's events of this answer, then the finished message's HTML (`answer`)."""
    ids = {"question_id": started.asked.question.id, "answer_id": started.asked.reply.id}
    yield ServerSentEvent(event="message", data=json.dumps(ids))
    async for event, data in chat_service.relay(started.events):
        yield ServerSentEvent(event=event, data=json.dumps(data))
    async with app.sessions() as reader:
        reply = await reader.get(ChatMessage, started.asked.reply.id)
    if reply is not None:
        view = message_view(reply, notebook_id)
        html = render_part(request, "_message.html", {"view": view})
        yield ServerSentEvent(event="answer", data=html)


@router.get("/notebooks/{notebook_id}/chat/{session_id}/rename")
async def rename_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    notebook_id: NotebookId,
    session_id: SessionId,
) -> Response:
    notebook, chat = await _chat_of(session, user, notebook_id, session_id)
    context = {"notebook": notebook, "chat": chat, "title": chat.title, "error": None}
    return render(request, "chat_rename.html", context)


@router.post("/notebooks/{notebook_id}/chat/{session_id}/rename")
async def rename(
    request: Request,
    session: SessionDep,
    user: ChangingUser,
    notebook_id: NotebookId,
    session_id: SessionId,
    title: Title = "",
) -> Response:
    notebook, chat = await _chat_of(session, user, notebook_id, session_id)
    if not title.strip():
        error = "A chat needs a title."
        context = {"notebook": notebook, "chat": chat, "title": title, "error": error}
        return render(request, "chat_rename.html", context, status_code=422)
    chat.title = title.strip()
    await session.flush()
    return RedirectResponse(_chat_url(notebook.id, chat.id), status_code=303)


@router.get("/notebooks/{notebook_id}/chat/{session_id}/delete")
async def delete_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    notebook_id: NotebookId,
    session_id: SessionId,
) -> Response:
    """The confirmation: the chat and all its messages go."""
    notebook, chat = await _chat_of(session, user, notebook_id, session_id)
    return render(request, "chat_delete.html", {"notebook": notebook, "chat": chat})


@router.post("/notebooks/{notebook_id}/chat/{session_id}/delete")
async def delete(
    session: SessionDep, user: ChangingUser, notebook_id: NotebookId, session_id: SessionId
) -> Response:
    notebook, chat = await _chat_of(session, user, notebook_id, session_id)
    await session.delete(chat)
    await session.flush()
    return RedirectResponse(f"/notebooks/{notebook.id}/chat", status_code=303)
