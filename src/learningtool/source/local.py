"""Adding files from the local disk (the `learningtool ingest` command), through the same
service as uploads: sniffed, deduplicated, stored, and processed by a job."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from learningtool.db import session_scope
from learningtool.errors import AppError
from learningtool.models import Job, Source
from learningtool.notebook import service as notebook_service
from learningtool.source import service as source_service
from learningtool.source.upload import Upload
from learningtool.user import service as user_service

if TYPE_CHECKING:  # assembled above the domains; passed in at run time
    from learningtool.context import AppContext

READ_SIZE = 1024 * 1024


@dataclass
class Queued:
    path: Path
    source_id: str | None
    job_id: str | None
    duplicate: bool = False
    error: str | None = None


def expand(paths: list[Path]) -> list[Path]:
    """Files as given, and the files under directories (sorted, hidden ones skipped)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and not any(part.startswith(".") for part in p.parts)
            )
        else:
            files.append(path)
    return files


async def _read(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, READ_SIZE):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


async def queue_files(
    app: AppContext, files: list[Path], *, notebook_name: str, user_name: str, tags: list[str]
) -> list[Queued]:
    """Create (or find) the notebook and add each file as a source; one transaction per
    file, so one bad file does not undo the others."""
    async with session_scope(app.sessions) as session:
        user = await user_service.get_user_by_name(session, user_name)
        notebook = await notebook_service.get_or_create_notebook(
            session, owner_id=user.id, name=notebook_name
        )
    queued: list[Queued] = []
    for path in files:
        try:
            staged = await app.blobs.stage(
                notebook.id, _read(path), max_bytes=app.settings.max_upload_bytes
            )
            upload = Upload(file=staged, filename=path.name, fields={"tags": ",".join(tags)})
            async with session_scope(app.sessions) as session:
                added = await source_service.add_upload(session, app, notebook, upload)
            queued.append(
                Queued(path, added.source.id, added.job.id if added.job else None, added.duplicate)
            )
        except (AppError, OSError) as error:
            message = error.message if isinstance(error, AppError) else str(error)
            queued.append(Queued(path, None, None, error=message))
    return queued


async def states(
    app: AppContext, source_ids: list[str]
) -> dict[str, tuple[str, float, str | None]]:
    """Status, progress and error of each source."""
    async with app.sessions() as session:
        rows = await session.execute(
            select(Source.id, Source.status, Source.progress, Source.error).where(
                Source.id.in_(source_ids)
            )
        )
        return {row.id: (row.status, row.progress, row.error) for row in rows}


async def jobs_done(app: AppContext, job_ids: list[str]) -> bool:
    async with app.sessions() as session:
        states = await session.scalars(select(Job.state).where(Job.id.in_(job_ids)))
        return all(state in ("succeeded", "failed", "cancelled") for state in states)
