"""Request and response models of research runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from learningtool.jobs.schemas import JobRead

Effort = Literal["low", "medium", "high"]


UseWeb = Annotated[
    bool | None,
    Field(
        description="Search the web too. Not given: when a web search provider is configured. "
        "true where none is configured: 422."
    ),
]


class ResearchCreate(BaseModel):
    question: str = Field(min_length=1, max_length=2000)
    effort: Effort = "medium"
    use_web: UseWeb = None


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    notebook_id: str
    topic_id: str | None
    question: str
    effort: str
    use_web: bool
    status: str
    engine: str | None
    report: str | None
    citations: list[dict[str, Any]]
    warnings: list[str]
    events: list[dict[str, Any]] = Field(description="progress events, oldest first")
    usage: dict[str, Any]
    source_id: str | None
    job_id: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class RunStarted(BaseModel):
    run: RunRead
    job: JobRead | None
    created: bool
