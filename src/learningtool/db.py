"""Database engines and sessions: an async engine per event loop, a session per request or job."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine.url import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from learningtool.errors import InvalidInput

SQLITE_BUSY_TIMEOUT_MS = 30_000


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """Build an async engine. SQLite gets WAL, foreign keys and a busy timeout on every
    connection; PostgreSQL a bounded pool.

    An engine belongs to the event loop that first uses it: code that runs on another loop
    (a LangGraph background run with isolated loops, a worker process) builds its own.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(
            url,
            poolclass=NullPool if parsed.database in (None, "", ":memory:") else None,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            connect_args=_postgres_connect_args(parsed),
        )
    event.listen(engine.sync_engine, "before_cursor_execute", _refuse_nul)
    return engine


def _refuse_nul(
    _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, _many: bool
) -> None:
    """PostgreSQL cannot hold U+0000 in text and answers a NUL in any stored field, search
    query or path id with an error the app would turn into a 500. Every statement's
    parameters are checked here, in one place, on both backends (so they behave alike): a NUL
    anywhere is the client's mistake and gets a 422. Extracted document text never reaches
    this: extraction removes control characters."""
    if _holds_nul(parameters):
        raise InvalidInput("the request holds a NUL character (U+0000), which cannot be stored")


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_nul(v) for v in value)
    return False


def _postgres_connect_args(url: URL) -> dict[str, Any]:
    """Settle now (in the caller's thread) what asyncpg would otherwise look up in files on
    every new connection, on the event loop:
    - the password: from the URL or PGPASSWORD (none: trust or peer authentication);
      ~/.pgpass is not read;
    - TLS: as the URL says (`ssl=`/`sslmode=`); otherwise none on loopback and a verifying
      default context elsewhere, instead of probing ~/.postgresql for certificates.
    """
    args: dict[str, Any] = {}
    if url.password is None:
        args["password"] = os.environ.get("PGPASSWORD", "")
    if not {"ssl", "sslmode"} & set(url.query):
        loopback = url.host in (None, "", "localhost", "127.0.0.1", "::1")
        args["ssl"] = False if loopback else ssl.create_default_context()
    return args


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions never expire loaded objects on commit, so a response can be built after it."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit when the block ends normally, roll back when it raises."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def sync_url(url: str) -> str:
    """The same database through a synchronous driver, for Alembic in a worker thread."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database backend: {backend}")
