"""The `learningtool` command: serve the API, run workers, manage users."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
import uvicorn
from rich.progress import BarColumn, Progress, TextColumn
from sqlalchemy import select

from learningtool.account import token_file
from learningtool.config import Settings, get_settings
from learningtool.context import AppContext
from learningtool.db import session_scope
from learningtool.errors import NotFound
from learningtool.jobs.worker import Worker
from learningtool.knowledge import reindex as knowledge_reindex
from learningtool.logs import configure_logging
from learningtool.main import create_app, local_token, open_context
from learningtool.models import Job
from learningtool.notebook import service as notebook_service
from learningtool.presence import WorkerPresence, held_by_another
from learningtool.source import local
from learningtool.user import service as user_service

cli = typer.Typer(help="LearningTool: learn from your own material.", no_args_is_help=True)
users_cli = typer.Typer(help="Manage users and their tokens.", no_args_is_help=True)
cli.add_typer(users_cli, name="users")

T = TypeVar("T")


def _run(settings: Settings, action: Callable[[AppContext], Awaitable[T]]) -> T:
    """Open the context on a fresh loop, run `action`, close it."""

    async def main() -> T:
        context = await open_context(settings)
        try:
            return await action(context)
        finally:
            await context.close()

    return asyncio.run(main())


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind.")] = None,
) -> None:
    """Run the API with its in-process worker, using the data directory's database and files."""
    settings = get_settings()
    settings.host = host or settings.host
    settings.port = port or settings.port
    typer.echo(f"LearningTool at http://{settings.host}:{settings.port}  (API docs: /docs)")
    typer.echo(f"Data directory: {settings.data_dir}")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


@cli.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="Jobs run at once.")] = None,
    import_module: Annotated[
        list[str] | None, typer.Option("--import", help="Extra module with job handlers.")
    ] = None,
) -> None:
    """Run a job worker against the configured database until SIGTERM or SIGINT."""
    settings = get_settings()
    settings.job_modules = [*settings.job_modules, *(import_module or [])]
    configure_logging(settings.log_level, json=settings.log_json)

    async def work(context: AppContext) -> None:
        presence = WorkerPresence(settings.data_dir)
        if not await asyncio.to_thread(presence.claim):
            typer.echo("note: another process already runs jobs on this data directory", err=True)
        job_worker = Worker(context, concurrency=concurrency)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        task = asyncio.create_task(job_worker.run())
        await stop.wait()
        await job_worker.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.to_thread(presence.release)

    _run(settings, work)


@cli.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(exists=True, help="Files or folders.")],
    notebook: Annotated[str, typer.Option(help="Notebook name (created if missing).")],
    user: Annotated[str, typer.Option(help="Owner of the notebook.")] = "local",
    tag: Annotated[list[str] | None, typer.Option(help="Tag for every source.")] = None,
) -> None:
    """Add files to a notebook and process them, with a progress bar per file: here, or by
    the server (or worker) that runs this data directory's jobs, if one does."""
    settings = get_settings()
    configure_logging("WARNING", json=settings.log_json)
    files = local.expand(paths)

    async def action(context: AppContext) -> int:
        await local_token(context)  # the first use creates the local user, as `serve` does
        queued = await local.queue_files(
            context, files, notebook_name=notebook, user_name=user, tags=tag or []
        )
        return await _process_with_progress(context, queued)

    raise typer.Exit(_run(settings, action))


async def _process_with_progress(context: AppContext, queued: list[local.Queued]) -> int:
    """Follow every queued source until it is processed; exit status 1 when any file failed.
    The jobs run in a local worker, unless a server (or `learningtool worker`) runs this data
    directory's jobs: then they are its (it owns the knowledge graph), and this process only
    shows their progress."""
    async with _jobs_processed(context, kinds=None, say=typer.echo):
        return await _follow(context, queued)


@asynccontextmanager
async def _jobs_processed(
    context: AppContext, kinds: list[str] | None, say: Callable[[str], None]
) -> AsyncIterator[None]:
    """Jobs get processed while inside: by a local worker, or by the process that runs this
    data directory's jobs already (`presence`), without competing with it."""
    presence = WorkerPresence(context.settings.data_dir)
    if not await asyncio.to_thread(presence.claim):
        say("a running server processes this data directory's jobs: handing them to it")
        yield
        return
    worker = Worker(context, kinds=kinds)
    runner = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        await worker.stop()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await asyncio.to_thread(presence.release)


async def _follow(context: AppContext, queued: list[local.Queued]) -> int:
    sources = [q for q in queued if q.source_id]
    failed = sum(1 for q in queued if q.error)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[state]}")
    ) as progress:
        bars = {
            source_id: progress.add_task(q.path.name, total=1.0, state="queued")
            for q in sources
            if (source_id := q.source_id)
        }
        for q in queued:
            if q.error:
                progress.console.print(f"[red]{q.path}: {q.error}")
        jobs = [q.job_id for q in sources if q.job_id]
        while True:
            done = await local.jobs_done(context, jobs)  # before the states: then they
            states = await local.states(context, list(bars))  # are final when it is
            for source_id, (status, fraction, error) in states.items():
                progress.update(bars[source_id], completed=fraction, state=error or status)
            if done:
                break
            await asyncio.sleep(0.2)
        failed += sum(1 for status, _, _ in states.values() if status == "failed")
    return 1 if failed else 0


@cli.command()
def reindex(
    notebook: Annotated[str | None, typer.Option(help="Only this notebook (by name).")] = None,
    user: Annotated[str, typer.Option(help="Owner of --notebook.")] = "local",
) -> None:
    """Rebuild the full-text index, the embeddings and the knowledge graph from the database."""
    settings = get_settings()
    configure_logging("WARNING", json=settings.log_json)
    if held_by_another(settings.data_dir):
        typer.echo(
            "error: a running server owns this data directory's knowledge graph; stop it,"
            " then reindex (the rebuild needs the graph to itself)",
            err=True,
        )
        raise typer.Exit(2)

    async def action(context: AppContext) -> dict[str, int]:
        ids = None
        if notebook is not None:
            async with session_scope(context.sessions) as session:
                owner = await user_service.get_user_by_name(session, user)
                found = await notebook_service.find_notebook(
                    session, owner_id=owner.id, name=notebook
                )
                if found is None:
                    raise NotFound(f"no notebook named {notebook!r}")
                ids = [found.id]
        return await knowledge_reindex.reindex(context, notebook_ids=ids, progress=typer.echo)

    totals = _run(settings, action)
    typer.echo(", ".join(f"{value} {key}" for key, value in totals.items()))


@users_cli.command("create")
def users_create(name: str) -> None:
    """Create a user and print its first token."""

    async def action(context: AppContext) -> str:
        async with session_scope(context.sessions) as session:
            user = await user_service.create_user(session, name)
            return await user_service.issue_token(session, user)

    typer.echo(_run(get_settings(), action))


@users_cli.command("token")
def users_token(
    name: str, label: Annotated[str, typer.Option(help="What the token is for.")] = "cli"
) -> None:
    """Issue a new token for an existing user and print it (shown only this once)."""

    async def action(context: AppContext) -> str:
        async with session_scope(context.sessions) as session:
            user = await user_service.get_user_by_name(session, name)
            return await user_service.issue_token(session, user, name=label)

    typer.echo(_run(get_settings(), action))


@users_cli.command("list")
def users_list() -> None:
    """List users: name, id, creation time."""

    async def action(context: AppContext) -> list[tuple[str, str, str]]:
        async with session_scope(context.sessions) as session:
            users = await user_service.list_users(session)
            return [(u.name, u.id, u.created_at.isoformat()) for u in users]

    for name, user_id, created in _run(get_settings(), action):
        typer.echo(f"{name}\t{user_id}\t{created}")


@users_cli.command("tokens")
def users_tokens(name: str) -> None:
    """List a user's tokens: id, label, creation and last use (never the token itself)."""

    async def action(context: AppContext) -> list[tuple[str, str, str, str]]:
        async with session_scope(context.sessions) as session:
            user = await user_service.get_user_by_name(session, name)
            return [
                (t.id, t.name, t.created_at.isoformat(), _when(t.last_used_at))
                for t in await user_service.list_tokens(session, user)
            ]

    for row in _run(get_settings(), action):
        typer.echo("\t".join(row))


@users_cli.command("revoke")
def users_revoke(name: str, token_id: str) -> None:
    """Revoke one token of a user (its id from `users tokens`); it stops working at once."""

    async def action(context: AppContext) -> None:
        async with session_scope(context.sessions) as session:
            user = await user_service.get_user_by_name(session, name)
            await user_service.revoke_token(session, user, token_id)

    _run(get_settings(), action)
    typer.echo(f"revoked {token_id}")


@users_cli.command("rotate")
def users_rotate(
    name: str, label: Annotated[str, typer.Option(help="What the new token is for.")] = "cli"
) -> None:
    """Revoke every token of a user and print one new token (a leaked token's remedy). The
    local token kept in the data directory is replaced too."""

    async def action(context: AppContext) -> str:
        async with session_scope(context.sessions) as session:
            user = await user_service.get_user_by_name(session, name)
            revoked = await user_service.revoke_all(session, user)
            token = await user_service.issue_token(session, user, name=label)
        path = context.settings.token_file
        await asyncio.to_thread(token_file.replace_kept, path, set(revoked), token)
        return token

    typer.echo(_run(get_settings(), action))


@users_cli.command("delete")
def users_delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
) -> None:
    """Delete a user with all their notebooks (rows, files, graph) and tokens."""
    if not yes:
        typer.echo("error: this deletes every notebook of the user; add --yes", err=True)
        raise typer.Exit(2)

    async def action(context: AppContext) -> int:
        async with session_scope(context.sessions) as session:
            user = await user_service.get_user_by_name(session, name)
            await user_service.revoke_all(session, user)  # no request gets in from now on
            notebooks = await notebook_service.list_notebooks(session, owner_id=user.id)
            jobs = [(await notebook_service.delete_notebook(session, n)).id for n in notebooks]
        await _purge(context, jobs)
        async with session_scope(context.sessions) as session:
            await user_service.delete_user(
                session, await user_service.get_user_by_name(session, name)
            )
        return len(jobs)

    count = _run(get_settings(), action)
    typer.echo(f"deleted user {name!r} and {count} notebooks")


async def _purge(context: AppContext, job_ids: list[str]) -> None:
    """Wait for the purge jobs: run here, or by the server if one runs."""
    if not job_ids:
        return
    async with _jobs_processed(context, kinds=[notebook_service.PURGE_JOB], say=typer.echo):
        while True:  # polled: the jobs may end in another process
            if await _all_ended(context, job_ids):
                break
            await asyncio.sleep(0.2)


async def _all_ended(context: AppContext, job_ids: list[str]) -> bool:
    async with context.sessions() as session:
        states = await session.scalars(select(Job.state).where(Job.id.in_(job_ids)))
        pending = [state for state in states if state in ("queued", "running")]
    return not pending


def _when(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "never"


def main() -> None:
    try:
        cli()
    except Exception as error:  # an AppError from a service: its message, not a traceback
        from learningtool.errors import AppError

        if isinstance(error, AppError):
            typer.echo(f"error: {error.message}", err=True)
            raise SystemExit(2) from None
        raise
