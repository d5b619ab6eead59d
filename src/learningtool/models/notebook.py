"""Notebooks (the scope of everything) and exclusions (what retrieval or research leaves out)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from learningtool.models.base import Base, created_at_column, id_column, updated_at_column


class Notebook(Base):
    __tablename__ = "notebooks"
    __table_args__ = (
        # Names are unique per owner among live notebooks; a notebook being purged frees its name.
        Index(
            "uq_notebooks_owner_name_live",
            "owner_id",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[str] = id_column()
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    # Bumped by every transaction that changes the notebook's chunks, so that in-memory
    # search indexes know when to reload.
    index_version: Mapped[int] = mapped_column(default=0)


class Exclusion(Base):
    """Leave a source (by id) or every source with a tag out of retrieval, research, or both."""

    __tablename__ = "exclusions"
    __table_args__ = (UniqueConstraint("notebook_id", "target_kind", "target"),)

    id: Mapped[str] = id_column()
    notebook_id: Mapped[str] = mapped_column(
        ForeignKey("notebooks.id", ondelete="CASCADE"), index=True
    )
    target_kind: Mapped[str] = mapped_column(String(16))  # source | tag
    target: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(16))  # retrieval | research | both
    created_at: Mapped[datetime] = created_at_column()
