"""The source jobs: ingestion (a source's bytes, fetched first for a URL, become text and
chunks through the `ingestion` pipeline) and the purge of a deleted source's files.

Ingestion states: queued -> extracting -> indexing -> ready | failed. The status changes are
written in short transactions of their own so clients see them while the job runs. A source
is useful before it is ready: the text, the chunks and their feed entries commit as soon as
the text is cut (`indexing`: readable, in the feed, found by lexical search), then the
chunks are embedded and put in the graph, and `ready` commits with the job's completion
(the vector search and the graph have it then, and the study and topic jobs start). A job
run again (a crash, a retry) replaces what an earlier attempt stored; a source that fails
after its chunks were stored keeps them, readable, until it is processed again or deleted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool import spans
from learningtool.cpu import CpuInterrupted, CpuMemoryError, CpuTimeout
from learningtool.feed import service as feed
from learningtool.fetch import AddressGuard, FetchError, FetchLimits, fetch_url
from learningtool.ingestion import pipeline
from learningtool.ingestion.chunk import Chunk as Chunk_
from learningtool.ingestion.document import Limits
from learningtool.ingestion.errors import IngestionError
from learningtool.ingestion.pipeline import Processed
from learningtool.jobs import queue
from learningtool.jobs.registry import JobContext, JobError, PermanentJobError, job
from learningtool.knowledge import index
from learningtool.knowledge.graph import GraphError
from learningtool.knowledge.keys import IndexedChunk
from learningtool.knowledge.vectors import bump_index_version
from learningtool.models import Chunk, FeedItem, Notebook, Source, utcnow
from learningtool.source.service import INGEST_JOB, PURGE_FILES_JOB

INDEXING = 0.6  # the progress once the chunks are stored
SAVE_BATCH_ROWS = 250  # chunk rows per INSERT: bounds the loop time of one statement
# What runs once a source is ready, handed off by job name (this package does not import
# the packages that consume its output).
READY_JOBS = ("study.generate", "topics.suggest")


async def mark_failed(session: AsyncSession, payload: dict[str, Any], reason: str) -> None:
    await session.execute(
        update(Source)
        .where(Source.id == payload["source_id"])
        .values(status="failed", error=reason, updated_at=utcnow())
    )


@job(INGEST_JOB, timeout_seconds=3600, on_failure=mark_failed)
async def ingest_source(ctx: JobContext) -> dict[str, Any]:
    source_id = str(ctx.payload["source_id"])
    async with ctx.app.sessions() as session:
        source = await session.get(Source, source_id)
    if source is None:
        return {"skipped": "the source was deleted"}
    await _status(ctx, source_id, "extracting", 0.05, "extracting text")
    if source.blob_key is None:
        source.blob_key = await _fetch(ctx, source)
    try:
        processed = await _process(ctx, source)
    except FileNotFoundError:  # the purge of a source deleted meanwhile removed its file
        if not await _still_exists(ctx, source):
            return {"skipped": "the source was deleted"}
        raise PermanentJobError("the source's stored file is missing") from None
    count = len(processed.chunks)
    if not await _save_chunks(ctx, source, processed):
        return {"skipped": "the source was deleted while it was processed"}
    await ctx.progress(INDEXING, f"readable and searchable by its words; indexing {count} chunks")
    embedded = await _index(ctx, source, processed)
    if not await _still_exists(ctx, source):
        return {"skipped": "the source was deleted while it was indexed"}
    await _mark_ready(ctx, source)
    return {"chunks": count, "characters": len(processed.text), "embedded": embedded}


@spans.timed("source.index")
async def _index(ctx: JobContext, source: Source, processed: Processed) -> int:
    chunks = [
        index.ChunkToIndex(key.id, c.text, c.heading_path, key.embed_hash)
        for c, key in zip(processed.chunks, processed.keys, strict=True)
    ]
    try:
        return await index.index_chunks(
            ctx.app, source.notebook_id, source.id, processed.title, chunks
        )
    except GraphError as error:
        raise JobError(f"the knowledge graph could not be updated: {error}") from None


async def _still_exists(ctx: JobContext, source: Source) -> bool:
    """Checked after the graph insert: a delete that committed before this check may have
    purged the graph before the insert, so its entries are removed here; a delete after it
    comes with a purge that runs after the insert. Either way nothing stays behind."""
    async with ctx.app.sessions() as session:
        exists = await session.scalar(select(Source.id).where(Source.id == source.id))
    if exists is None and ctx.app.graph is not None:
        await ctx.app.graph.delete_source(source.notebook_id, source.id)
    return exists is not None


@spans.timed("source.status")
async def _status(
    ctx: JobContext, source_id: str, status: str, progress: float, message: str
) -> None:
    async with ctx.app.sessions() as session:
        await session.execute(
            update(Source)
            .where(Source.id == source_id)
            .values(status=status, progress=progress, error=None, updated_at=utcnow())
        )
        await session.commit()
    await ctx.progress(progress, message)


async def _fetch(ctx: JobContext, source: Source) -> str:
    """Download a URL source through the address guard and store its bytes."""
    settings = ctx.app.settings
    limits = FetchLimits(
        max_bytes=settings.fetch_max_bytes,
        total_seconds=settings.fetch_timeout_seconds,
        max_redirects=settings.fetch_max_redirects,
    )
    guard = AddressGuard(allow_loopback=settings.fetch_allow_loopback)
    try:
        document = await fetch_url(source.url or "", limits=limits, guard=guard)
    except FetchError as error:
        retryable = error.code in ("timeout", "fetch_failed")
        reason = f"could not fetch the URL: {error.message}"
        if retryable:  # the source says why it waits, not only once the retries are spent
            await _note_retry(ctx, source.id, reason)
        raise JobError(reason, retryable=retryable) from None
    staged = await ctx.app.blobs.stage_bytes(source.notebook_id, document.content)
    key = await ctx.app.blobs.commit(source.notebook_id, staged, source.id)
    async with ctx.app.sessions() as session:
        await session.execute(
            update(Source)
            .where(Source.id == source.id)
            .values(
                blob_key=key,
                meta={"final_url": document.url, "content_type": document.content_type},
            )
        )
        await session.commit()
    return key


async def _note_retry(ctx: JobContext, source_id: str, reason: str) -> None:
    async with ctx.app.sessions() as session:
        await session.execute(
            update(Source)
            .where(Source.id == source_id)
            .values(error=f"{reason} (trying again)", updated_at=utcnow())
        )
        await session.commit()


@spans.timed("source.process")
async def _process(ctx: JobContext, source: Source) -> Processed:
    settings = ctx.app.settings
    job = pipeline.Job(
        path=str(ctx.app.blobs.path(source.notebook_id, source.blob_key or "")),
        source_id=source.id,
        title=source.title,
        prefer_document_title=source.kind == "url",
        limits=Limits(max_input_bytes=max(settings.max_upload_bytes, settings.fetch_max_bytes)),
        max_tokens=settings.chunk_max_tokens,
        overlap_tokens=settings.chunk_overlap_tokens,
    )
    try:
        # Urgent: the learner waits to read it; study and topic work of earlier sources waits.
        return await ctx.app.cpu.run(
            settings.extract_timeout_seconds, pipeline.process_file, job, urgent=True
        )
    except IngestionError as error:
        raise PermanentJobError(error.message) from None
    except CpuTimeout:
        raise PermanentJobError(
            f"processing took longer than {settings.extract_timeout_seconds:g} s"
        ) from None
    except CpuMemoryError as error:
        raise PermanentJobError(f"processing stopped: {error}") from None
    except CpuInterrupted as error:
        raise JobError(f"processing was interrupted ({error}); it will be retried") from None


@spans.timed("source.save")
async def _save_chunks(ctx: JobContext, source: Source, processed: Processed) -> bool:
    """Replace the source's text, chunks and their feed entries, and commit at once (status
    `indexing`): the learner reads and searches it while it is embedded. False when the
    source was deleted meanwhile."""
    async with ctx.app.sessions() as session:
        exists = await session.scalar(select(Source.id).where(Source.id == source.id))
        if exists is None:
            return False
        await _replace_chunks(session, source, processed)
        await session.commit()
    return True


async def _mark_ready(ctx: JobContext, source: Source) -> None:
    """In the job's own transaction (it commits with the job's completion): the source is
    ready, the notebook's vectors are read again (they now hold its embeddings), and the
    jobs that use a ready source are queued."""
    session = ctx.session
    exists = await session.scalar(select(Source.id).where(Source.id == source.id))
    if exists is None:
        raise PermanentJobError("the source was deleted while it was processed")
    await session.execute(
        update(Source)
        .where(Source.id == source.id)
        .values(status="ready", progress=1.0, error=None, updated_at=utcnow())
    )
    await bump_index_version(session, source.notebook_id)
    owner = await session.scalar(select(Notebook.owner_id).where(Notebook.id == source.notebook_id))
    for kind in READY_JOBS:
        await queue.enqueue(
            session, kind, {"source_id": source.id}, user_id=owner, notebook_id=source.notebook_id
        )


async def _replace_chunks(session: AsyncSession, source: Source, processed: Processed) -> None:
    await session.execute(delete(Chunk).where(Chunk.source_id == source.id))
    now = utcnow()
    pairs = list(zip(processed.chunks, processed.keys, strict=True))
    # In batches: rows are built and bound on the loop's thread, and one statement for all
    # of a long document's chunks held the loop for 60+ ms (5,000 chunks, bench/ingest.py).
    for first in range(0, len(pairs), SAVE_BATCH_ROWS):
        rows = [
            {
                "id": key.id,
                "source_id": source.id,
                "notebook_id": source.notebook_id,
                "ordinal": c.ordinal,
                "text": c.text,
                "start_char": c.start_char,
                "end_char": c.end_char,
                "page": c.page,
                "slide": c.slide,
                "heading_path": list(c.heading_path),
                "audio_start": c.audio_start,
                "audio_end": c.audio_end,
                "token_count": c.token_count,
                "embed_hash": key.embed_hash,
                "created_at": now,
            }
            for c, key in pairs[first : first + SAVE_BATCH_ROWS]
        ]
        await session.execute(insert(Chunk), rows)
    await session.execute(
        update(Source)
        .where(Source.id == source.id)
        .values(
            text=processed.text,
            title=processed.title,
            media_type=processed.media_type,
            status="indexing",
            progress=INDEXING,
            error=None,
            updated_at=now,
        )
    )
    await bump_index_version(session, source.notebook_id)
    await _replace_chunk_feed(session, source, processed, pairs)


async def _replace_chunk_feed(
    session: AsyncSession,
    source: Source,
    processed: Processed,
    pairs: list[tuple[Chunk_, IndexedChunk]],
) -> None:
    """The source's chunks in the feed: the old entries out (with those of the study items
    that went with the old chunks; the study job makes new ones), the new ones in."""
    await session.execute(delete(FeedItem).where(FeedItem.source_id == source.id))
    entries = [
        feed.NewItem(
            kind="chunk",
            ref_id=key.id,
            title=" > ".join([processed.title, *c.heading_path]),
            body=c.text,
            source_id=source.id,
        )
        for c, key in pairs
    ]
    await feed.add_items(session, source.notebook_id, entries)


@job(PURGE_FILES_JOB)
async def purge_source_files(ctx: JobContext) -> dict[str, Any]:
    """Remove a deleted source's graph entries and its blob. A blob belongs to its source
    alone; the reuse check is for files named by content hash before that was so, which a
    re-add of the same bytes could share."""
    notebook_id, blob_key = str(ctx.payload["notebook_id"]), ctx.payload.get("blob_key")
    if ctx.app.graph is not None:
        chunk_ids = [str(c) for c in ctx.payload.get("chunk_ids", [])]
        await ctx.app.graph.delete_source(notebook_id, str(ctx.payload["source_id"]), chunk_ids)
    if not blob_key:
        return {"blob": "none"}
    async with ctx.app.sessions() as session:
        reused = await session.scalar(
            select(Source.id).where(Source.notebook_id == notebook_id, Source.blob_key == blob_key)
        )
    if reused is None:
        await ctx.app.blobs.delete(notebook_id, blob_key)
    return {"blob": "kept" if reused else "deleted"}
