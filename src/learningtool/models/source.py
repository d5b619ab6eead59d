"""Sources (what a learner added) and chunks (spans of a source's extracted text)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from learningtool.models.base import Base, created_at_column, id_column, updated_at_column


class Source(Base):
    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("notebook_id", "content_hash"),)

    id: Mapped[str] = id_column()
    notebook_id: Mapped[str] = mapped_column(
        ForeignKey("notebooks.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # file | text | url | research
    title: Mapped[str] = mapped_column(String(500), default="")
    media_type: Mapped[str] = mapped_column(String(100), default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str | None] = mapped_column(String(100), default=None)
    original_name: Mapped[str | None] = mapped_column(String(255), default=None)
    url: Mapped[str | None] = mapped_column(Text, default=None)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    research_run_id: Mapped[str | None] = mapped_column(String(32), default=None)
    job_id: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    @property
    def searchable(self) -> bool:
        """Its text is extracted and cut into passages: readable, in the feed and found by
        lexical search, before its embeddings and graph are done (`indexing`)."""
        return self.text is not None


class Chunk(Base):
    """A span of its source's extracted text: `text == source.text[start_char:end_char]`."""

    __tablename__ = "chunks"
    __table_args__ = (
        UniqueConstraint("source_id", "ordinal"),
        Index("ix_chunks_notebook_created", "notebook_id", "created_at"),
    )

    id: Mapped[str] = id_column()
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    notebook_id: Mapped[str] = mapped_column(ForeignKey("notebooks.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    start_char: Mapped[int] = mapped_column(Integer)
    end_char: Mapped[int] = mapped_column(Integer)
    page: Mapped[int | None] = mapped_column(Integer, default=None)
    slide: Mapped[int | None] = mapped_column(Integer, default=None)
    heading_path: Mapped[list[Any]] = mapped_column(default=list)
    audio_start: Mapped[float | None] = mapped_column(Float, default=None)
    audio_end: Mapped[float | None] = mapped_column(Float, default=None)
    token_count: Mapped[int] = mapped_column(Integer, default=0)
    # SHA-256 of the text that was embedded (title, headings and text): the embedding
    # cache key, so unchanged chunks are not embedded again on re-processing or reindex.
    embed_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = created_at_column()
