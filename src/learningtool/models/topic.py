"""Suggested research topics and the per-notebook preferences that govern them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from learningtool.models.base import Base, created_at_column, id_column, updated_at_column


class TopicPreference(Base):
    __tablename__ = "topic_preferences"

    notebook_id: Mapped[str] = mapped_column(
        ForeignKey("notebooks.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    count: Mapped[int] = mapped_column(Integer, default=3)
    min_score: Mapped[float] = mapped_column(Float, default=0.0)
    preferred_domains: Mapped[list[Any]] = mapped_column(default=list)
    updated_at: Mapped[datetime] = updated_at_column()


class Topic(Base):
    __tablename__ = "topics"
    __table_args__ = (UniqueConstraint("notebook_id", "normalized"),)

    id: Mapped[str] = id_column()
    notebook_id: Mapped[str] = mapped_column(
        ForeignKey("notebooks.id", ondelete="CASCADE"), index=True
    )
    question: Mapped[str] = mapped_column(Text)
    normalized: Mapped[str] = mapped_column(String(500))
    # What the topic is about (the key phrase, or the model's question): compared by meaning
    # with the subjects of existing topics so that one idea is suggested once.
    subject: Mapped[str] = mapped_column(String(500), default="")
    engine: Mapped[str] = mapped_column(String(16), default="")  # offline | llm
    source_id: Mapped[str | None] = mapped_column(String(32), default=None)  # what prompted it
    rationale: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float] = mapped_column(Float, default=0.0)
    # pending -> accepted -> researching -> done | failed; pending -> rejected
    status: Mapped[str] = mapped_column(String(16), default="pending")
    passages: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
