"""Request and response models of chat."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SessionCreate(BaseModel):
    title: str | None = Field(default=None, max_length=200)


class SessionUpdate(BaseModel):
    title: str = Field(min_length=1, max_length=200)


class SessionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    created_at: datetime
    updated_at: datetime


class MessageCreate(BaseModel):
    content: str = Field(min_length=1, max_length=8000)
    stream: bool = Field(default=False, description="Answer as server-sent events.")
    research: bool = Field(default=False, description="Run deep research first.")
    k: int = Field(default=6, ge=1, le=20, description="Passages to retrieve.")
    mode: Literal["hybrid", "fast", "lexical", "vector", "graph"] = "hybrid"


class MessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    role: str
    content: str
    citations: list[dict[str, Any]]
    claims: list[dict[str, Any]] = Field(
        description="Each answer sentence: its citations, support score, supported or not."
    )
    meta: dict[str, Any]
    status: str = Field(description="complete | pending | failed | interrupted")
    created_at: datetime


class History(BaseModel):
    messages: list[MessageRead]
    before: str | None = Field(description="Pass as `before` for older messages.")


class Exchange(BaseModel):
    question: MessageRead
    answer: MessageRead
