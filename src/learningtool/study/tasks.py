"""The study job: a ready source's chunks become summaries, Q&A pairs and flashcards.

Enqueued by ingestion in the transaction that makes the source ready. Re-running it (a
re-processed source, a retry) replaces what the source had: its old items, their card
states and their feed entries go in the same transaction as the new ones arrive.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from sqlalchemy import delete, insert, select

from learningtool.feed import service as feed
from learningtool.jobs.registry import JobContext, job
from learningtool.models import CardState, Chunk, FeedItem, Source, StudyItem, utcnow
from learningtool.models.base import new_id
from learningtool.study import schedule
from learningtool.study.drafts import Draft, distinct
from learningtool.study.engine import LlmEngine, OfflineEngine, StudyEngine
from learningtool.study.offline import ChunkRef, Section
from learningtool.text import boilerplate

STUDY_JOB = "study.generate"
SECTION_MAX_CHUNKS = 6
GENERATED_KINDS = ("summary", "qa", "flashcard")


def sections_of(
    text: str, title: str, chunks: list[tuple[str, int, int, list[str], int | None, int | None]]
) -> list[Section]:
    """Consecutive chunks under the same heading, page and slide, up to
    `SECTION_MAX_CHUNKS`, form one section: one summary each. Sections under a reference,
    contents or report-scaffold heading are left out; the others carry the source's
    boilerplate spans and its common words (`boilerplate`), which no item is made from."""
    skip = boilerplate.spans(text)
    sections: list[Section] = []
    group: list[ChunkRef] = []
    key: tuple[Any, ...] | None = None
    for chunk_id, start, end, heading_path, page, slide in chunks:
        this = (tuple(heading_path), page, slide)
        if group and (this != key or len(group) >= SECTION_MAX_CHUNKS):
            sections.append(_section(text, title, group, key, skip))
            group = []
        group.append(ChunkRef(chunk_id, start, end))
        key = this
    if group:
        sections.append(_section(text, title, group, key, skip))
    kept = [s for s in sections if not boilerplate.skipped_section(s.heading_path)]
    common = boilerplate.common_words([s.text for s in kept])
    return [dataclasses.replace(s, common=common) for s in kept]


def _section(
    text: str, title: str, group: list[ChunkRef], key: Any, skip: list[tuple[int, int]]
) -> Section:
    heading_path = key[0] if key else ()
    return Section.from_chunks(text, group, title=title, heading_path=heading_path, skip=skip)


def engine_for(ctx: JobContext) -> StudyEngine:
    offline = OfflineEngine(ctx.app.cpu)
    return LlmEngine(ctx.app.llm, offline) if ctx.app.llm is not None else offline


@job(STUDY_JOB, timeout_seconds=3600)
async def generate_study_material(ctx: JobContext) -> dict[str, Any]:
    source_id = str(ctx.payload["source_id"])
    async with ctx.app.sessions() as session:
        source = await session.get(Source, source_id)
        if source is None or source.status != "ready" or source.text is None:
            return {"skipped": "the source is not ready"}
        rows = (
            await session.execute(
                select(
                    Chunk.id,
                    Chunk.start_char,
                    Chunk.end_char,
                    Chunk.heading_path,
                    Chunk.page,
                    Chunk.slide,
                )
                .where(Chunk.source_id == source_id)
                .order_by(Chunk.ordinal)
            )
        ).all()
    # Reading a long source's boilerplate takes a CPU for a while: not on the loop.
    sections = await asyncio.to_thread(
        sections_of, source.text, source.title, [tuple(row) for row in rows]
    )
    await ctx.progress(0.2, f"writing study material for {len(sections)} sections")
    engine = engine_for(ctx)
    outcome = await engine.study(sections)
    counts = await _replace(ctx, source, outcome.drafts, engine.name)
    result: dict[str, Any] = {"engine": outcome.engine, **counts}
    if outcome.notes:
        result["notes"] = outcome.notes
    if isinstance(engine, LlmEngine):
        result["usage"] = engine.usage.as_dict()
    return result


async def _replace(
    ctx: JobContext, source: Source, drafts: list[Draft], engine: str
) -> dict[str, int]:
    session = ctx.session
    await session.execute(
        delete(FeedItem).where(FeedItem.source_id == source.id, FeedItem.kind.in_(GENERATED_KINDS))
    )
    await session.execute(delete(StudyItem).where(StudyItem.source_id == source.id))
    now = utcnow()
    items: list[dict[str, Any]] = [
        {
            "id": new_id(),
            "notebook_id": source.notebook_id,
            "source_id": source.id,
            "chunk_id": draft.chunk_id,
            "kind": draft.kind,
            "payload": draft.payload,
            "start_char": draft.start,
            "end_char": draft.end,
            "engine": engine,
            "created_at": now,
            "updated_at": now,
        }
        for draft in distinct(drafts)
    ]
    for first in range(0, len(items), feed.BATCH_ROWS):
        await session.execute(insert(StudyItem), items[first : first + feed.BATCH_ROWS])
    cards = [item for item in items if item["kind"] == "flashcard"]
    if cards:
        fresh = schedule.new_card_state(now, card_id=0)
        await session.execute(
            insert(CardState),
            [
                {
                    "item_id": card["id"],
                    "notebook_id": source.notebook_id,
                    "fsrs": fresh.state,
                    "due_at": fresh.due_at,
                    "updated_at": now,
                }
                for card in cards
            ],
        )
    await feed.add_items(
        session,
        source.notebook_id,
        [feed_entry(source, item["id"], item["kind"], item["payload"]) for item in items],
        at=now,
    )
    return {kind: sum(1 for item in items if item["kind"] == kind) for kind in GENERATED_KINDS}


def feed_entry(source: Source, item_id: str, kind: str, payload: dict[str, Any]) -> feed.NewItem:
    if kind == "summary":
        title, body = f"Summary: {source.title}", str(payload.get("text", ""))
    elif kind == "qa":
        title, body = str(payload["question"]), str(payload["answer"])
    else:
        title, body = str(payload["front"]), str(payload["back"])
    return feed.NewItem(kind=kind, ref_id=item_id, title=title, body=body, source_id=source.id)
