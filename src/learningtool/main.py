"""The ASGI app: `create_app()` wires routers, errors and metrics; its lifespan opens the
database (migrating it), the worker and the loop-lag monitor. `app` is what `uvicorn` and
`langgraph dev` (through `langgraph.json`) serve."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI

from learningtool import migrate
from learningtool.api import api_router
from learningtool.apidocs import router as apidocs
from learningtool.chat import service as chat_service
from learningtool.config import Settings, get_settings
from learningtool.context import AppContext, create_context
from learningtool.db import session_scope
from learningtool.errors import install_error_handlers
from learningtool.headers import SecurityHeaders
from learningtool.health import router as health_router
from learningtool.jobs.registry import load_handlers
from learningtool.jobs.worker import Worker
from learningtool.logs import configure_logging
from learningtool.metrics import LoopLagMonitor, RequestMetricsMiddleware
from learningtool.presence import WorkerPresence
from learningtool.ratelimit import RateLimits
from learningtool.source import service as source_service
from learningtool.user import service as user_service
from learningtool.user.usage import TokenUse
from learningtool.web import router as web
from learningtool.web.signin import start_link

log = structlog.get_logger(__name__)


async def open_context(settings: Settings) -> AppContext:
    """Create the data directory, migrate the database and open the context on this loop.

    The objects loaded by start-up (modules, metadata) live as long as the process; freezing
    them keeps the collector from walking them again, which otherwise costs a 60-100 ms
    pause of the loop at the first full collection (measured in bench/jobs.py)."""
    await asyncio.to_thread(private_data_dir, settings.data_dir)
    await asyncio.to_thread(migrate.upgrade, settings.sqlalchemy_url)
    load_handlers(settings.job_modules)
    context = await create_context(settings)
    gc.collect()
    gc.freeze()
    return context


def private_data_dir(path: Path) -> None:
    """The data directory holds every user's notebooks, the database and the token: it is
    made 0700, and this process and the processes it starts create files 0600 and folders
    0700 (umask 077), so that the database, its WAL and the graph's files are private too."""
    os.umask(0o077)
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


async def local_token(context: AppContext) -> str | None:
    """On the first start, create the local user and keep its token in the data directory
    (mode 0600); the token is returned then and only then (a log or a terminal scrollback
    should not collect it at every start)."""
    async with session_scope(context.sessions) as session:
        token = await user_service.ensure_local_user(session)
    if token is not None:
        await asyncio.to_thread(_write_private, context.settings.token_file, token)
    return token


async def _claim_presence(settings: Settings) -> WorkerPresence:
    """Say that this process runs the data directory's jobs: the command line then hands
    its files to it instead of fighting it for the graph (`presence`)."""
    presence = WorkerPresence(settings.data_dir)
    if not await asyncio.to_thread(presence.claim):
        log.warning("another_worker_present", data_dir=str(settings.data_dir))
    return presence


def _write_private(path: Path, content: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(content + "\n")


async def _warm_up(context: AppContext) -> None:
    """Load the embedding model in its process now: the first question or upload after a
    start would otherwise wait for it (seconds). A failure here shows again, with its
    reason, where the model is used."""
    warm_up = getattr(context.embedder, "warm_up", None)
    if warm_up is None:
        return
    try:
        await warm_up()
    except Exception as error:
        log.warning("embedding_warm_up_failed", error=type(error).__name__)


async def _sweep(context: AppContext) -> None:
    """Files a crash left in the blob store; a failure here costs disk space, nothing else."""
    try:
        removed = await source_service.sweep_stray_blobs(
            context, context.settings.stray_blob_grace_seconds
        )
    except Exception as error:
        log.warning("stray_blob_sweep_failed", error=repr(error))
        return
    if removed:
        log.info("stray_blobs_removed", count=removed)


def create_app(
    settings: Settings | None = None, *, configure_logs: bool = True, reraise: bool = False
) -> FastAPI:
    """The app; `reraise` (tests) lets unexpected errors reach the caller after the 500."""
    settings = settings or get_settings()
    if configure_logs:
        configure_logging(settings.log_level, json=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = await open_context(settings)
        app.state.context = context
        app.state.token_use = TokenUse(context.sessions, context.spawn)
        await chat_service.mark_interrupted(context)
        token = await local_token(context)
        where = context.settings.token_file
        message = (
            f"access token: {token} (shown once, kept in {where})"
            if token
            else (f"access token: in {where}")
        )
        print(f"LearningTool {message}", file=sys.stderr, flush=True)
        link = await start_link(
            context.sessions, app.state.sign_in_codes, settings.host, settings.port
        )
        if link is not None:
            minutes = round(settings.sign_in_link_seconds / 60)
            print(
                f"LearningTool web app: open {link} to sign in (works once, for {minutes} min)",
                file=sys.stderr,
                flush=True,
            )
        context.spawn(_warm_up(context), name="warm-up")
        context.spawn(_sweep(context), name="sweep-stray-blobs")
        monitor = LoopLagMonitor(settings.loop_lag_interval_seconds)
        monitor.start()
        app.state.lag_monitor = monitor
        worker = Worker(context) if settings.worker_enabled else None
        presence = await _claim_presence(settings) if worker is not None else None
        app.state.worker = worker
        app.state.worker_task = asyncio.create_task(worker.run()) if worker else None
        log.info("app_started", data_dir=str(settings.data_dir), worker=bool(worker))
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()
                app.state.worker_task.cancel()
                await asyncio.gather(app.state.worker_task, return_exceptions=True)
            await monitor.stop()
            await context.close()
            if presence is not None:
                await asyncio.to_thread(presence.release)

    app = FastAPI(
        title="LearningTool",
        version="0.1.0",
        summary="Learn from your own material: notebooks, study cards, research, chat.",
        lifespan=lifespan,
        docs_url=None,  # served from the package's own files: `learningtool.apidocs`
        redoc_url=None,
    )
    app.state.rate_limits = RateLimits.from_settings(settings)
    install_error_handlers(app, reraise=reraise)
    app.add_middleware(SecurityHeaders)  # outside the error middleware: 500s get them too
    app.add_middleware(RequestMetricsMiddleware)
    app.include_router(health_router)
    app.include_router(apidocs.router)
    app.mount(apidocs.ASSETS_PATH, apidocs.assets(), name="docs-assets")
    app.include_router(api_router)
    web.install(app, settings)  # the pages at `/`, after the API: its paths come first
    return app


def __getattr__(name: str) -> FastAPI:
    """`learningtool.main:app`, built on first access so that importing this module for
    `create_app` alone reads no settings."""
    if name == "app":
        # Inside the LangGraph server, logging is already configured: keep its setup.
        application = create_app(configure_logs=not structlog.is_configured())
        globals()["app"] = application
        return application
    raise AttributeError(name)
