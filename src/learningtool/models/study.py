"""Study material derived from chunks (summaries, Q&A, flashcards) and FSRS card state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from learningtool.models.base import Base, created_at_column, id_column, updated_at_column


class StudyItem(Base):
    __tablename__ = "study_items"
    __table_args__ = (Index("ix_study_items_notebook_kind", "notebook_id", "kind"),)

    id: Mapped[str] = id_column()
    notebook_id: Mapped[str] = mapped_column(ForeignKey("notebooks.id", ondelete="CASCADE"))
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    chunk_id: Mapped[str | None] = mapped_column(
        ForeignKey("chunks.id", ondelete="CASCADE"), default=None
    )
    kind: Mapped[str] = mapped_column(String(16))  # summary | qa | flashcard
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    start_char: Mapped[int | None] = mapped_column(Integer, default=None)
    end_char: Mapped[int | None] = mapped_column(Integer, default=None)
    engine: Mapped[str] = mapped_column(String(50), default="offline")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class CardState(Base):
    """The FSRS scheduling state of one flashcard (one row per card)."""

    __tablename__ = "card_states"
    __table_args__ = (Index("ix_card_states_notebook_due", "notebook_id", "due_at"),)

    item_id: Mapped[str] = mapped_column(
        ForeignKey("study_items.id", ondelete="CASCADE"), primary_key=True
    )
    notebook_id: Mapped[str] = mapped_column(ForeignKey("notebooks.id", ondelete="CASCADE"))
    fsrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    due_at: Mapped[datetime]
    stability: Mapped[float | None] = mapped_column(Float, default=None)
    difficulty: Mapped[float | None] = mapped_column(Float, default=None)
    reps: Mapped[int] = mapped_column(Integer, default=0)
    last_review_at: Mapped[datetime | None] = mapped_column(default=None)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = updated_at_column()


class CardReview(Base):
    __tablename__ = "card_reviews"

    id: Mapped[str] = id_column()
    item_id: Mapped[str] = mapped_column(
        ForeignKey("study_items.id", ondelete="CASCADE"), index=True
    )
    rating: Mapped[int] = mapped_column(Integer)
    reviewed_at: Mapped[datetime]
    log: Mapped[dict[str, Any]] = mapped_column(default=dict)
