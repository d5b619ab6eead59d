"""Test fixtures: blocking detection on every test, a real database per backend (SQLite file,
PostgreSQL server), the app over ASGI with its lifespan, and authenticated clients."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from blockbuster import BlockBuster
from httpx import ASGITransport, AsyncClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from learningtool import migrate
from learningtool.config import Settings
from learningtool.context import AppContext
from learningtool.db import session_scope
from learningtool.jobs.registry import load_handlers
from learningtool.main import create_app
from learningtool.models import Base
from learningtool.user import service as user_service

PG_ADMIN_URL = os.environ.get(
    "LEARNINGTOOL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_JOB_MODULES = ["tests.support.jobs"]
BACKENDS = ["sqlite", "postgresql"]


# -- blocking detection -----------------------------------------------------------------------


def blockbuster_for_tests() -> BlockBuster:
    """Every blocking call made while an event loop runs raises `BlockingError`, from any
    module: file I/O, os calls, sleeps, sockets, sync sqlite3, lock waits. The only
    exemptions are library internals that are not ours to fix and cannot stall the loop,
    each named with its reason."""
    guard = BlockBuster()
    # structlog renders exceptions with `traceback`, which reads source lines via linecache.
    guard.functions["io.BufferedReader.read"].can_block_in("linecache.py", {"updatecache"})
    guard.functions["os.stat"].can_block_in("linecache.py", {"checkcache", "updatecache"})
    return guard


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[BlockBuster]:
    guard = blockbuster_for_tests()
    guard.activate()
    try:
        yield guard
    finally:
        guard.deactivate()


# -- databases --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the local PostgreSQL server, migrated once, dropped at the end."""
    name = f"lt_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
    rendered = url.render_as_string(hide_password=False)
    migrate.upgrade(rendered)
    yield rendered
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_postgres(url: str) -> None:
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "learningtool.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    _truncate_postgres(url)
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    load_handlers(TEST_JOB_MODULES)
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        database_url=database_url,
        worker_enabled=False,
        job_backoff_seconds=0,
        job_lease_seconds=2,
        job_poll_seconds=0.05,
        job_modules=TEST_JOB_MODULES,
        log_json=True,
        log_level="WARNING",
        embedding_provider="hashing",
        graph_enabled=False,  # the graph's own tests start its worker process
        rate_sign_in_failures_per_minute=0,  # tests send bad tokens on purpose (test_limits)
    )


# -- the app ----------------------------------------------------------------------------------


class Api:
    """The app under test with its context, and helpers to act as a given user."""

    def __init__(self, app: object, context: AppContext, token: str) -> None:
        self.app = app
        self.context = context
        self.token = token

    def client(self, token: str | None = None) -> AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = ASGITransport(app=self.app)  # type: ignore[arg-type]
        return AsyncClient(transport=transport, base_url="http://test", headers=headers)

    async def new_user(self, name: str) -> str:
        async with session_scope(self.context.sessions) as session:
            user = await user_service.create_user(session, name)
            return await user_service.issue_token(session, user)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings, reraise=True)  # every unexpected error fails its test
    async with app.router.lifespan_context(app):
        context: AppContext = app.state.context
        yield Api(app, context, await _local_token(context))


async def _local_token(context: AppContext) -> str:
    async with session_scope(context.sessions) as session:
        user = await user_service.get_user_by_name(session, "local")
        return await user_service.issue_token(session, user, name="tests")


@pytest.fixture
async def client(api: Api) -> AsyncIterator[AsyncClient]:
    async with api.client(api.token) as http:
        yield http
