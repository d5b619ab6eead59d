"""Request and response models of topics and their preferences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from learningtool.research.schemas import Effort, UseWeb


class TopicRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    notebook_id: str
    source_id: str | None
    question: str
    rationale: str
    score: float
    status: str
    engine: str
    passages: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


class AcceptTopic(BaseModel):
    effort: Effort = "medium"
    use_web: UseWeb = None


class PreferencesRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    enabled: bool
    count: int
    min_score: float
    preferred_domains: list[str]


class PreferencesUpdate(BaseModel):
    enabled: bool | None = None
    count: int | None = Field(default=None, ge=1, le=5)
    min_score: float | None = Field(default=None, ge=0, le=1)
    preferred_domains: list[str] | None = Field(default=None, max_length=20)
