"""Request and response models of study items and cards."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from learningtool.models import CardState, StudyItem


class StudyItemRead(BaseModel):
    id: str
    source_id: str
    chunk_id: str | None
    kind: str
    payload: dict[str, Any]
    start_char: int | None = Field(description="Evidence span in the source's text.")
    end_char: int | None
    engine: str
    created_at: datetime

    @classmethod
    def of(cls, item: StudyItem) -> StudyItemRead:
        return cls(
            id=item.id,
            source_id=item.source_id,
            chunk_id=item.chunk_id,
            kind=item.kind,
            payload=item.payload,
            start_char=item.start_char,
            end_char=item.end_char,
            engine=item.engine,
            created_at=item.created_at,
        )


class CardRead(BaseModel):
    id: str
    source_id: str
    chunk_id: str | None
    front: str
    back: str
    start_char: int | None
    end_char: int | None
    due_at: datetime
    stability: float | None
    difficulty: float | None
    retrievability: float | None = Field(description="Recall probability now; None if new.")
    reps: int
    suspended: bool
    last_review_at: datetime | None

    @classmethod
    def of(cls, item: StudyItem, state: CardState, retrievability: float | None) -> CardRead:
        return cls(
            id=item.id,
            source_id=item.source_id,
            chunk_id=item.chunk_id,
            front=str(item.payload.get("front", "")),
            back=str(item.payload.get("back", "")),
            start_char=item.start_char,
            end_char=item.end_char,
            due_at=state.due_at,
            stability=state.stability,
            difficulty=state.difficulty,
            retrievability=retrievability,
            reps=state.reps,
            suspended=state.suspended,
            last_review_at=state.last_review_at,
        )


class CardPage(BaseModel):
    cards: list[CardRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class ReviewCreate(BaseModel):
    rating: Literal["again", "hard", "good", "easy"]
    duration_ms: int | None = Field(default=None, ge=0, le=3_600_000)


class ReviewResult(BaseModel):
    card: CardRead
    retrievability_before: float


class CardUpdate(BaseModel):
    front: str | None = Field(default=None, min_length=1, max_length=2000)
    back: str | None = Field(default=None, min_length=1, max_length=2000)
    suspended: bool | None = None
