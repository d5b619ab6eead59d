"""What stands behind a feed item: its study item, chunk or report, and its source span."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.models import Chunk, FeedItem, ResearchRun, Source, StudyItem


async def detail_of(
    session: AsyncSession, item: FeedItem
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    if item.kind == "chunk":
        chunk = await session.get(Chunk, item.ref_id)
        if chunk is None:
            return {}, None
        return {"ordinal": chunk.ordinal, "token_count": chunk.token_count}, await _span(
            session, chunk.source_id, chunk.start_char, chunk.end_char, chunk
        )
    if item.kind == "research":
        run = await session.get(ResearchRun, item.ref_id)
        return (
            {"question": run.question, "report": run.report, "citations": run.citations}
            if run
            else {}
        ), None
    study = await session.get(StudyItem, item.ref_id)
    if study is None:
        return {}, None
    chunk = await session.get(Chunk, study.chunk_id) if study.chunk_id else None
    span = None
    if study.start_char is not None and study.end_char is not None:
        span = await _span(session, study.source_id, study.start_char, study.end_char, chunk)
    return {"kind": study.kind, "payload": study.payload, "engine": study.engine}, span


async def _span(
    session: AsyncSession, source_id: str, start: int, end: int, chunk: Chunk | None
) -> dict[str, Any]:
    text = await session.scalar(select(Source.text).where(Source.id == source_id))
    return {
        "source_id": source_id,
        "start_char": start,
        "end_char": end,
        "text": (text or "")[start:end],
        "page": chunk.page if chunk else None,
        "slide": chunk.slide if chunk else None,
        "heading_path": list(chunk.heading_path) if chunk else [],
        "audio_start": chunk.audio_start if chunk else None,
        "audio_end": chunk.audio_end if chunk else None,
    }
