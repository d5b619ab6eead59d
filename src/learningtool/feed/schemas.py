"""Response models of the feed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class FeedItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    ref_id: str
    source_id: str | None
    title: str
    body: str
    created_at: datetime


class FeedPage(BaseModel):
    items: list[FeedItemRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class FeedDetail(BaseModel):
    item: FeedItemRead
    detail: dict[str, Any] = Field(description="The study item, chunk or report behind it.")
    source_span: dict[str, Any] | None = Field(
        description="source_id, start_char, end_char, page, slide, heading_path, audio times "
        "and the text of the span."
    )
