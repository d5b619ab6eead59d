"""Deep research runs and their cited reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from learningtool.models.base import Base, created_at_column, id_column, updated_at_column


class ResearchRun(Base):
    __tablename__ = "research_runs"

    id: Mapped[str] = id_column()
    notebook_id: Mapped[str] = mapped_column(
        ForeignKey("notebooks.id", ondelete="CASCADE"), index=True
    )
    # One run per accepted topic: a second accept finds this row instead of starting another.
    topic_id: Mapped[str | None] = mapped_column(
        ForeignKey("topics.id", ondelete="CASCADE"), unique=True, default=None
    )
    question: Mapped[str] = mapped_column(Text)
    effort: Mapped[str] = mapped_column(String(16), default="medium")
    # queued -> researching -> done | failed | cancelled
    status: Mapped[str] = mapped_column(String(16), default="queued")
    report: Mapped[str | None] = mapped_column(Text, default=None)
    citations: Mapped[list[Any]] = mapped_column(default=list)
    use_web: Mapped[bool] = mapped_column(Boolean, default=True)
    engine: Mapped[str | None] = mapped_column(String(16), default=None)  # llm | offline
    # Progress events as they happened (step, queries, sources found): what the events
    # stream replays, from any process.
    events: Mapped[list[Any]] = mapped_column(default=list)
    usage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    source_id: Mapped[str | None] = mapped_column(String(32), default=None)  # the report's
    user_id: Mapped[str | None] = mapped_column(String(32), default=None)
    job_id: Mapped[str | None] = mapped_column(String(32), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
