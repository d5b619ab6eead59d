"""How content enters a notebook: a file, pasted text or a URL becomes a stored source and
an ingestion job, in the caller's transaction. Same content twice gives the existing source."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool import spans
from learningtool.errors import Conflict, InvalidInput, NotFound, UnsupportedMediaType
from learningtool.fetch import AddressGuard, canonical_url
from learningtool.ingestion.errors import UnsupportedTypeError
from learningtool.ingestion.pipeline import sniff_media_type
from learningtool.jobs import queue
from learningtool.knowledge.vectors import bump_index_version
from learningtool.models import Chunk, Job, Notebook, Source
from learningtool.models.base import new_id
from learningtool.source.upload import Upload
from learningtool.storage import StagedBlob

if TYPE_CHECKING:  # assembled above the domains; passed in at run time
    from learningtool.context import AppContext

INGEST_JOB = "source.ingest"
PURGE_FILES_JOB = "source.purge_files"


@dataclass
class Added:
    source: Source
    job: Job | None
    duplicate: bool


@spans.timed("source.add_upload")
async def add_upload(
    session: AsyncSession, app: AppContext, notebook: Notebook, upload: Upload
) -> Added:
    """A file whose type is sniffed from its bytes (415 when unsupported)."""
    try:
        media_type = await asyncio.to_thread(sniff_media_type, str(upload.file.path))
    except UnsupportedTypeError as error:
        await app.blobs.discard(upload.file)
        raise UnsupportedMediaType(error.message, details=error.details) from None
    fields = upload.fields
    return await _add(
        session,
        app,
        notebook,
        upload.file,
        kind="file",
        media_type=media_type,
        title=fields.get("title") or upload.filename or "Untitled file",
        original_name=upload.filename,
        tags=_tags(fields.get("tags", "")),
    )


async def add_text(
    session: AsyncSession,
    app: AppContext,
    notebook: Notebook,
    *,
    text: str,
    title: str,
    tags: list[str],
    kind: str = "text",
    media_type: str = "text/plain",
    **provenance: Any,
) -> Added:
    """Pasted text, or text the service wrote itself (a research report: `kind="research"`
    with its provenance, e.g. `research_run_id` and `meta`)."""
    if len(text) > app.settings.max_text_chars:
        raise InvalidInput(f"the text is longer than {app.settings.max_text_chars} characters")
    if not text.strip():
        raise InvalidInput("the text is empty")
    staged = await app.blobs.stage_bytes(notebook.id, text.encode("utf-8"))
    first_line = text.strip().splitlines()[0][:80]
    return await _add(
        session,
        app,
        notebook,
        staged,
        kind=kind,
        media_type=media_type,
        title=title or first_line,
        tags=tags,
        **provenance,
    )


async def add_url(
    session: AsyncSession,
    app: AppContext,
    notebook: Notebook,
    *,
    url: str,
    title: str,
    tags: list[str],
) -> Added:
    """Record the URL now; the job fetches it (through the address guard) and processes it.
    The same URL twice in a notebook is a duplicate."""
    guard = AddressGuard(allow_loopback=app.settings.fetch_allow_loopback)
    try:
        parsed = httpx.URL(canonical_url(url.strip()))
    except (httpx.InvalidURL, ValueError):
        raise InvalidInput("the URL is not valid") from None
    guard.check_url(parsed)  # scheme, credentials, literal and metadata addresses: 422 now
    normalized = str(parsed)
    host = parsed.host
    content_hash = hashlib.sha256(b"url:" + normalized.encode()).hexdigest()
    source = Source(
        notebook_id=notebook.id,
        kind="url",
        url=normalized,
        content_hash=content_hash,
        title=title or host,
        tags=tags,
    )
    return await _insert(session, notebook, source)


def _tags(raw: str) -> list[str]:
    return [tag.strip()[:50] for tag in raw.split(",") if tag.strip()][:20]


async def _add(
    session: AsyncSession,
    app: AppContext,
    notebook: Notebook,
    staged: StagedBlob,
    **fields: Any,
) -> Added:
    existing = await _by_hash(session, notebook.id, staged.sha256)
    if existing is not None:
        await app.blobs.discard(staged)
        return Added(existing, await _job_of(session, existing), duplicate=True)
    source = Source(id=new_id(), notebook_id=notebook.id, content_hash=staged.sha256, **fields)
    # The blob is durable before the row commits: a committed source always has its bytes.
    source.blob_key = await app.blobs.commit(notebook.id, staged, source.id)
    try:
        added = await _insert(session, notebook, source)
    except BaseException:
        await app.blobs.delete(notebook.id, source.blob_key)
        raise
    if added.duplicate:  # a concurrent add of the same bytes won; this file is nobody's
        await app.blobs.delete(notebook.id, source.blob_key)
    return added


async def _insert(session: AsyncSession, notebook: Notebook, source: Source) -> Added:
    """Insert the source and its job; a concurrent insert of the same content wins the unique
    constraint and this call returns that source instead."""
    content_hash = source.content_hash
    try:
        async with session.begin_nested():
            session.add(source)
            await session.flush()
    except IntegrityError:
        existing = await _by_hash(session, notebook.id, content_hash)
        if existing is None:
            raise
        return Added(existing, await _job_of(session, existing), duplicate=True)
    job = await _enqueue_ingest(session, notebook, source)
    return Added(source, job, duplicate=False)


async def _enqueue_ingest(session: AsyncSession, notebook: Notebook, source: Source) -> Job:
    return await queue.enqueue_for(session, source, notebook, INGEST_JOB, {"source_id": source.id})


async def _by_hash(session: AsyncSession, notebook_id: str, content_hash: str) -> Source | None:
    return await session.scalar(
        select(Source).where(Source.notebook_id == notebook_id, Source.content_hash == content_hash)
    )


async def _job_of(session: AsyncSession, source: Source) -> Job | None:
    return await session.get(Job, source.job_id) if source.job_id else None


async def list_sources(session: AsyncSession, notebook: Notebook) -> list[Source]:
    rows = await session.scalars(
        select(Source)
        .where(Source.notebook_id == notebook.id)
        .order_by(Source.created_at, Source.id)
    )
    return list(rows)


async def get_source(session: AsyncSession, notebook: Notebook, source_id: str) -> Source:
    source = await session.scalar(
        select(Source).where(Source.id == source_id, Source.notebook_id == notebook.id)
    )
    if source is None:
        raise NotFound("source not found")
    return source


async def list_chunks(
    session: AsyncSession, source: Source, *, after: int, limit: int
) -> list[Chunk]:
    rows = await session.scalars(
        select(Chunk)
        .where(Chunk.source_id == source.id, Chunk.ordinal > after)
        .order_by(Chunk.ordinal)
        .limit(limit)
    )
    return list(rows)


async def chunk_at(session: AsyncSession, source: Source, char: int) -> Chunk | None:
    """The first passage holding the character at `char` (where a span begins)."""
    rows = await session.scalars(
        select(Chunk)
        .where(Chunk.source_id == source.id, Chunk.start_char <= char, Chunk.end_char > char)
        .order_by(Chunk.ordinal)
        .limit(1)
    )
    return rows.first()


def extracted_text(source: Source) -> str:
    if source.text is None:
        raise Conflict(
            f"the source has no extracted text yet (status: {source.status})",
            details={"status": source.status},
        )
    return source.text


async def reprocess(session: AsyncSession, notebook: Notebook, source: Source) -> Job:
    """Process the source again from its stored bytes; what it produced is replaced."""
    if source.job_id is not None:
        current = await session.get(Job, source.job_id)
        if current is not None and current.state not in queue.TERMINAL:
            return current
    source.status, source.progress, source.error = "queued", 0.0, None
    return await _enqueue_ingest(session, notebook, source)


async def delete_source(session: AsyncSession, notebook: Notebook, source: Source) -> Job:
    """Delete the source's rows now (chunks, study items, feed items go by cascade) and
    enqueue the removal of its blob and index entries."""
    blob_key = source.blob_key
    chunk_ids = list(await session.scalars(select(Chunk.id).where(Chunk.source_id == source.id)))
    await session.execute(delete(Source).where(Source.id == source.id))
    await bump_index_version(session, notebook.id)
    return await queue.enqueue(
        session,
        PURGE_FILES_JOB,
        {
            "notebook_id": notebook.id,
            "source_id": source.id,
            "blob_key": blob_key,
            "chunk_ids": chunk_ids,
        },
        user_id=notebook.owner_id,
        notebook_id=notebook.id,
    )


async def sweep_stray_blobs(app: AppContext, older_than: float) -> int:
    """Remove blob files no source owns (left by a crash between storing a file and
    committing its row, or in the middle of an upload); run at start-up. How many went."""
    async with app.sessions() as session:
        notebooks = list(await session.scalars(select(Notebook.id)))
    removed = 0
    for notebook_id in notebooks:
        async with app.sessions() as session:
            keys = await session.scalars(
                select(Source.blob_key).where(
                    Source.notebook_id == notebook_id, Source.blob_key.is_not(None)
                )
            )
            keep = {str(key) for key in keys}
        removed += await app.blobs.sweep(notebook_id, keep, older_than)
    return removed
