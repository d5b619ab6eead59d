"""The research graph's checkpointer, in the app's own database.

SQLite: `AsyncSqliteSaver` on an aiosqlite connection to the same file (WAL, so its writes
and the app's interleave; a busy timeout instead of "database is locked"). PostgreSQL:
`AsyncPostgresSaver` on a psycopg async connection to the same database. Its tables
(`checkpoints`, `writes`, ...; on PostgreSQL also `checkpoint_blobs`, `checkpoint_migrations`)
are LangGraph's own and managed by its `setup()`, not by our migrations.

A saver is opened per run, on the run's loop, and closed with it: nothing loop-bound is
shared between runs or loops. Runs are keyed by `thread_id = run id`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from sqlalchemy.engine import make_url

BUSY_TIMEOUT_MS = 30_000
_set_up: set[str] = set()  # databases whose checkpoint tables exist (this process)


@asynccontextmanager
async def open_checkpointer(database_url: str) -> AsyncIterator[BaseCheckpointSaver[str]]:
    """A saver for the database at `database_url` (the app's SQLAlchemy URL)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        async with aiosqlite.connect(url.database or "", timeout=BUSY_TIMEOUT_MS / 1000) as conn:
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            sqlite_saver = AsyncSqliteSaver(conn)
            await _setup(database_url, sqlite_saver)
            yield sqlite_saver
        return
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    async with await AsyncConnection.connect(
        conninfo, autocommit=True, prepare_threshold=0, row_factory=dict_row
    ) as connection:
        pg_saver = AsyncPostgresSaver(connection)
        await _setup(database_url, pg_saver)
        yield pg_saver


async def _setup(database_url: str, saver: AsyncSqliteSaver | AsyncPostgresSaver) -> None:
    if database_url not in _set_up:
        await saver.setup()
        _set_up.add(database_url)


async def delete_runs(database_url: str, run_ids: list[str]) -> None:
    """Drop the checkpoints of these runs (a deleted run or notebook keeps none)."""
    if not run_ids:
        return
    async with open_checkpointer(database_url) as saver:
        for run_id in run_ids:
            await saver.adelete_thread(run_id)
