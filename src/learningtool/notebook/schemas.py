"""Request and response models of notebooks and exclusions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from learningtool.jobs.schemas import JobRead


class NotebookCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)


class NotebookUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)


class NotebookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime


class NotebookDeleted(BaseModel):
    """Deletion is a job: the notebook disappears at once, its data goes in the background."""

    notebook_id: str
    job: JobRead


ExclusionScope = Literal["retrieval", "research", "both"]


class ExclusionCreate(BaseModel):
    target_kind: Literal["source", "tag"]
    target: str = Field(min_length=1, max_length=200)
    scope: ExclusionScope = "both"


class ExclusionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    target_kind: str
    target: str
    scope: str
    created_at: datetime
