"""Request and response models of sources and chunks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from learningtool.jobs.schemas import JobRead

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class TextSourceCreate(BaseModel):
    """Pasted text."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)
    title: str = Field(default="", max_length=500)
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class UrlSourceCreate(BaseModel):
    """A web page or file to fetch (http/https, public addresses only)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000)
    title: str = Field(default="", max_length=500)
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class SourceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    notebook_id: str
    kind: str
    title: str
    media_type: str
    original_name: str | None
    url: str | None
    tags: list[str]
    status: str = Field(description="queued | extracting | indexing | ready | failed")
    searchable: bool = Field(
        description="Its passages are stored: readable, in the feed and found by lexical "
        "search. True from `indexing` on, while its embeddings and graph are made."
    )
    progress: float
    error: str | None
    job_id: str | None
    created_at: datetime
    updated_at: datetime


class SourceAccepted(BaseModel):
    """The answer to an upload: the source, the job processing it, and whether the same
    content was already in the notebook (then nothing new was created)."""

    source: SourceRead
    job: JobRead | None
    duplicate: bool


class ChunkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    source_id: str
    ordinal: int
    text: str
    start_char: int
    end_char: int
    page: int | None
    slide: int | None
    heading_path: list[str]
    audio_start: float | None
    audio_end: float | None
    token_count: int


class ChunkPage(BaseModel):
    items: list[ChunkRead]
    next_after: int | None = Field(description="Pass as `after` for the next page.")
