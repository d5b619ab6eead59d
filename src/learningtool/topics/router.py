"""HTTP routes of topics: list, accept (202: the research run), reject; preferences."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from learningtool.deps import AppDep, SessionDep
from learningtool.notebook.deps import NotebookDep
from learningtool.research import service as research_service
from learningtool.research.router import started
from learningtool.research.schemas import RunStarted
from learningtool.topics import service
from learningtool.topics.schemas import (
    AcceptTopic,
    PreferencesRead,
    PreferencesUpdate,
    TopicRead,
)

router = APIRouter(prefix="/notebooks/{notebook_id}", tags=["topics"])
Status = Literal["pending", "accepted", "researching", "done", "failed", "rejected"]


@router.get("/topics")
async def list_topics(
    notebook: NotebookDep,
    session: SessionDep,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> list[TopicRead]:
    """Suggestions, best score first (no model involved: they were made at ingestion)."""
    topics = await service.list_topics(session, notebook, status_, limit)
    return [TopicRead.model_validate(t) for t in topics]


@router.get("/topics/{topic_id}")
async def get_topic(topic_id: str, notebook: NotebookDep, session: SessionDep) -> TopicRead:
    return TopicRead.model_validate(await service.get_topic(session, notebook, topic_id))


@router.post("/topics/{topic_id}/accept", status_code=status.HTTP_202_ACCEPTED)
async def accept_topic(
    topic_id: str,
    notebook: NotebookDep,
    session: SessionDep,
    app: AppDep,
    body: AcceptTopic | None = None,
) -> RunStarted:
    """Start the topic's research run; a second accept returns the same run."""
    body = body or AcceptTopic()
    use_web = research_service.choose_web(body.use_web, app.settings.web_search_provider)
    topic = await service.get_topic(session, notebook, topic_id)
    run, created = await service.accept(
        session, notebook, topic, effort=body.effort, use_web=use_web
    )
    return await started(session, run, created)


@router.post("/topics/{topic_id}/reject")
async def reject_topic(topic_id: str, notebook: NotebookDep, session: SessionDep) -> TopicRead:
    topic = await service.get_topic(session, notebook, topic_id)
    return TopicRead.model_validate(await service.reject(session, topic))


@router.get("/topic-preferences")
async def get_preferences(notebook: NotebookDep, session: SessionDep) -> PreferencesRead:
    return PreferencesRead.model_validate(await service.preferences(session, notebook.id))


@router.put("/topic-preferences")
async def update_preferences(
    body: PreferencesUpdate, notebook: NotebookDep, session: SessionDep
) -> PreferencesRead:
    changes = service.check_preferences(body.model_dump(exclude_none=True))
    prefs = await service.update_preferences(session, notebook, changes)
    return PreferencesRead.model_validate(prefs)
