"""HTTP routes of chat: sessions, history, and asking (JSON or server-sent events)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, status
from sse_starlette import EventSourceResponse, ServerSentEvent

from learningtool.chat import service
from learningtool.chat.schemas import (
    Exchange,
    History,
    MessageCreate,
    MessageRead,
    SessionCreate,
    SessionRead,
    SessionUpdate,
)
from learningtool.deps import AppDep, CurrentUser, SessionDep, rate_limited
from learningtool.models import ChatMessage
from learningtool.notebook.deps import NotebookDep

router = APIRouter(prefix="/notebooks/{notebook_id}/chat/sessions", tags=["chat"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_session(
    body: SessionCreate, notebook: NotebookDep, user: CurrentUser, session: SessionDep
) -> SessionRead:
    return SessionRead.model_validate(
        await service.create_session(session, notebook, user, body.title)
    )


@router.get("")
async def list_sessions(
    notebook: NotebookDep, user: CurrentUser, session: SessionDep
) -> list[SessionRead]:
    chats = await service.list_sessions(session, notebook, user)
    return [SessionRead.model_validate(chat) for chat in chats]


@router.patch("/{session_id}")
async def rename_session(
    session_id: str,
    body: SessionUpdate,
    notebook: NotebookDep,
    user: CurrentUser,
    session: SessionDep,
) -> SessionRead:
    chat = await service.get_session(session, notebook, user, session_id)
    chat.title = body.title
    await session.flush()
    return SessionRead.model_validate(chat)


@router.delete("/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_session(
    session_id: str, notebook: NotebookDep, user: CurrentUser, session: SessionDep
) -> None:
    chat = await service.get_session(session, notebook, user, session_id)
    await session.delete(chat)
    await session.flush()


@router.get("/{session_id}/messages")
async def history(
    session_id: str,
    notebook: NotebookDep,
    user: CurrentUser,
    session: SessionDep,
    before: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> History:
    """Messages oldest first; `before` pages back through older ones."""
    chat = await service.get_session(session, notebook, user, session_id)
    messages, older = await service.history(session, chat, before=before, limit=limit)
    return History(messages=[MessageRead.model_validate(m) for m in messages], before=older)


@router.post("/{session_id}/messages", response_model=Exchange, dependencies=[rate_limited("chat")])
async def ask(
    session_id: str,
    body: MessageCreate,
    notebook: NotebookDep,
    user: CurrentUser,
    session: SessionDep,
    app: AppDep,
) -> Exchange | EventSourceResponse:
    """Ask a question. JSON: the stored question and answer. With `stream: true`:
    server-sent events `retrieved`, `token`..., `citations`, `claims`, then `done` (or
    `error`); the answer is stored whether or not the client stays connected. With
    `research: true`, `research` events (the run's progress) come first."""
    chat = await service.get_session(session, notebook, user, session_id)
    started = await service.start(
        session, app, chat, body.content, k=body.k, mode=body.mode, research=body.research
    )
    asked, queue, task = started.asked, started.events, started.task
    if not body.stream:
        await task
        async with app.sessions() as reader:
            reply = await reader.get(ChatMessage, asked.reply.id)
        assert reply is not None
        return Exchange(
            question=MessageRead.model_validate(asked.question),
            answer=MessageRead.model_validate(reply),
        )

    async def events() -> AsyncIterator[ServerSentEvent]:
        yield ServerSentEvent(
            event="message",
            data=json.dumps({"question_id": asked.question.id, "answer_id": asked.reply.id}),
        )
        async for event, data in service.relay(queue):
            yield ServerSentEvent(event=event, data=json.dumps(data))

    return EventSourceResponse(events(), ping=15)
