"""Users and their bearer tokens (stored as SHA-256 hashes, never in clear)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from learningtool.models.base import Base, created_at_column, id_column


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = created_at_column()


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="default")
    created_at: Mapped[datetime] = created_at_column()
    last_used_at: Mapped[datetime | None]


class WebSession(Base):
    """A browser's sign-in (the web pages' cookie). Only the hash of the cookie's random value
    is stored: a copy of the database signs nobody in. Deleted at sign-out; expired rows are
    refused and removed at the next sign-in."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = id_column()
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime]
