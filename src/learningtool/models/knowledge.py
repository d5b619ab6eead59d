"""Embeddings, cached by the hash of the embedded text and the model that embedded it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from learningtool.models.base import Base, created_at_column


class Embedding(Base):
    """One vector (float32, L2-normalised) per (model, text hash). SQL is the source of
    truth: in-memory vector indexes are rebuilt from these rows."""

    __tablename__ = "embeddings"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = created_at_column()
