"""The knowledge feed: one row per item shown in a notebook's timeline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from learningtool.models.base import Base, created_at_column, id_column


class FeedItem(Base):
    __tablename__ = "feed_items"
    __table_args__ = (
        UniqueConstraint("kind", "ref_id"),
        Index("ix_feed_items_notebook_created_id", "notebook_id", "created_at", "id"),
        Index("ix_feed_items_notebook_kind_created_id", "notebook_id", "kind", "created_at", "id"),
    )

    id: Mapped[str] = id_column()
    notebook_id: Mapped[str] = mapped_column(ForeignKey("notebooks.id", ondelete="CASCADE"))
    source_id: Mapped[str | None] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), default=None, index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # chunk | summary | qa | flashcard | research
    ref_id: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_at_column()
