"""Topic suggestions and preferences: suggest for a ready source, list, accept, reject.

Suggestions are made by a job when a source becomes ready (never while a learner waits), so
reading them is a plain query that needs no model. The offline engine proposes the key
phrases of the source that the notebook mentions only in passing (`offline.py`); with an LLM
configured, the model proposes questions from the source's passages, falling back to the
offline engine when it fails. Each suggestion keeps the passages that prompted it.

Per notebook, `TopicPreference` governs them: `enabled`, `count` (new suggestions per source,
1-5), `min_score` (0-1), `preferred_domains` (given to the model and to web search).
A new suggestion whose subject means the same as an existing topic's (any status, rejected
ones included: a rejected idea is not proposed again) is dropped: cosine similarity of their
embeddings at or above `SAME_MEANING`, or the same normalised question.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.errors import Conflict, InvalidInput, NotFound
from learningtool.knowledge import lexical
from learningtool.llm import LlmError, UsageSink, delimit
from learningtool.models import Chunk, Notebook, ResearchRun, Source, Topic, TopicPreference
from learningtool.research import service as research
from learningtool.topics import offline

if TYPE_CHECKING:  # assembled above the domains; passed in at run time
    from learningtool.context import AppContext

log = structlog.get_logger(__name__)
SAME_MEANING = 0.9
LEXICAL_CANDIDATES = 20
CPU_SECONDS = 120.0
LLM_SOURCE_CHARS = 8000
PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"
DEFAULT_COUNT = 3  # new suggestions per source until the learner says otherwise


def normalise(question: str) -> str:
    return " ".join(question.lower().split()).rstrip("?.! ")[:500]


# -- preferences --------------------------------------------------------------------------------


async def preferences(session: AsyncSession, notebook_id: str) -> TopicPreference:
    """The notebook's preferences (the defaults until first changed)."""
    found = await session.get(TopicPreference, notebook_id)
    return found or TopicPreference(
        notebook_id=notebook_id,
        enabled=True,
        count=DEFAULT_COUNT,
        min_score=0.0,
        preferred_domains=[],
    )


async def update_preferences(
    session: AsyncSession, notebook: Notebook, changes: dict[str, Any]
) -> TopicPreference:
    current = await session.get(TopicPreference, notebook.id)
    if current is None:
        current = await preferences(session, notebook.id)
        session.add(current)
    for name, value in changes.items():
        setattr(current, name, value)
    await session.flush()
    return current


# -- suggesting ---------------------------------------------------------------------------------


@dataclass
class Suggestion:
    subject: str
    question: str
    rationale: str
    score: float
    engine: str
    passages: list[dict[str, Any]] = field(default_factory=list)


async def suggest_for_source(
    session: AsyncSession, app: AppContext, source: Source, usage: UsageSink | None = None
) -> list[Topic]:
    """New topics prompted by `source`, within the notebook's preferences, in `session`."""
    prefs = await preferences(session, source.notebook_id)
    if not prefs.enabled or source.kind == "research" or not source.text:
        return []
    drafts: list[Suggestion] = []
    if app.llm is not None:
        drafts = await _llm_suggestions(session, app, source, prefs, usage)
    if not drafts:
        drafts = await _offline_suggestions(session, app, source)
    drafts = [d for d in drafts if d.score >= prefs.min_score]
    fresh = await _unseen(session, app, source.notebook_id, drafts)
    return await _insert(session, source, fresh[: prefs.count])


async def _offline_suggestions(
    session: AsyncSession, app: AppContext, source: Source
) -> list[Suggestion]:
    phrases = await app.cpu.run(CPU_SECONDS, offline.key_phrases, source.text, offline.CANDIDATES)
    chunks_by_phrase = [await _chunks_matching(session, source.notebook_id, p) for p in phrases]
    texts = [[chunk.text for chunk in chunks] for chunks in chunks_by_phrase]
    thin = await app.cpu.run(CPU_SECONDS, offline.thin_phrases, phrases, texts)
    thin_set = {c.phrase for c in thin}
    anchor = next((p for p in phrases if p not in thin_set), None)
    # Then the source's other key phrases, most salient first: a document whose every key
    # term is discussed at length still gets the suggestions its preferences ask for.
    exclude = thin_set | ({anchor} if anchor else set())
    covered = offline.covered_phrases(phrases, texts, exclude=exclude)
    suggestions = []
    for candidate in [*thin, *covered]:
        chunks = [chunks_by_phrase[candidate.rank][i] for i in candidate.mentions]
        suggestions.append(
            Suggestion(
                subject=candidate.phrase,
                question=offline.question_for(candidate.phrase, anchor),
                rationale=offline.rationale_for(candidate.phrase, len(chunks), source.title),
                score=candidate.score,
                engine="offline",
                passages=[_passage(chunk) for chunk in chunks],
            )
        )
    return suggestions


async def _chunks_matching(session: AsyncSession, notebook_id: str, phrase: str) -> list[Chunk]:
    hits = await lexical.search(session, notebook_id, phrase, LEXICAL_CANDIDATES)
    if not hits:
        return []
    ids = [chunk_id for chunk_id, _ in hits]
    rows = {c.id: c for c in await session.scalars(select(Chunk).where(Chunk.id.in_(ids)))}
    return [rows[i] for i in ids if i in rows]


def _passage(chunk: Chunk) -> dict[str, Any]:
    return {
        "chunk_id": chunk.id,
        "source_id": chunk.source_id,
        "start_char": chunk.start_char,
        "end_char": chunk.end_char,
        "page": chunk.page,
        "text": chunk.text[:400],
    }


class _TopicReply(BaseModel):
    question: str = Field(min_length=5, max_length=300)
    why: str = Field(min_length=5, max_length=600, description="why it matters to the learner")
    score: float = Field(ge=0, le=1, description="how valuable researching it would be")
    passages: list[int] = Field(min_length=1, description="numbers of the passages behind it")


class _TopicsReply(BaseModel):
    topics: list[_TopicReply]


TOPICS_SYSTEM = """You suggest research topics to a learner from one of their documents.
Propose at most {n} questions worth researching further: things the passages raise but do
not explain, open questions, or natural next steps. Each needs a question, why it matters,
a score from 0 to 1, and the numbers of the passages that prompted it.{domains}"""


async def _llm_suggestions(
    session: AsyncSession,
    app: AppContext,
    source: Source,
    prefs: TopicPreference,
    usage: UsageSink | None,
) -> list[Suggestion]:
    assert app.llm is not None
    chunks = list(
        await session.scalars(
            select(Chunk).where(Chunk.source_id == source.id).order_by(Chunk.ordinal)
        )
    )
    shown: list[Chunk] = []
    size = 0
    for chunk in chunks:
        if size + len(chunk.text) > LLM_SOURCE_CHARS and shown:
            break
        shown.append(chunk)
        size += len(chunk.text)
    domains = (
        f"\nThe learner prefers these domains: {', '.join(prefs.preferred_domains)}."
        if prefs.preferred_domains
        else ""
    )
    user = "\n\n".join(
        f"Passage {n}\n{delimit(f'passage-{n}', chunk.text)}" for n, chunk in enumerate(shown, 1)
    )
    try:
        reply = await app.llm.structured(
            system=TOPICS_SYSTEM.format(n=prefs.count, domains=domains),
            # The title is data too (a web page's <title>): inside the delimiters.
            user=f"Document title\n{delimit('title', source.title)}\n\n{user}",
            schema=_TopicsReply,
            task="topics.suggest",
            usage=usage,
        )
    except LlmError as error:
        log.warning("topics_llm_failed", source_id=source.id, error=error.message)
        return []
    suggestions = []
    for item in reply.value.topics:
        cited = [shown[n - 1] for n in dict.fromkeys(item.passages) if 1 <= n <= len(shown)]
        if not cited:
            continue  # a suggestion must point at what prompted it
        suggestions.append(
            Suggestion(
                subject=item.question,
                question=item.question,
                rationale=item.why,
                score=round(item.score, 4),
                engine="llm",
                passages=[_passage(chunk) for chunk in cited],
            )
        )
    return suggestions


async def _unseen(
    session: AsyncSession, app: AppContext, notebook_id: str, drafts: list[Suggestion]
) -> list[Suggestion]:
    """Drafts whose subject means something no existing topic (nor an earlier draft) means."""
    if not drafts:
        return []
    existing = (
        await session.execute(
            select(Topic.subject, Topic.normalized).where(Topic.notebook_id == notebook_id)
        )
    ).all()
    known_questions = {normalized for _, normalized in existing}
    subjects = [subject or normalized for subject, normalized in existing]
    vectors = await app.embedder.embed([*subjects, *(d.subject for d in drafts)])
    kept: list[Suggestion] = []
    kept_rows: list[int] = list(range(len(subjects)))
    for offset, draft in enumerate(drafts):
        row = len(subjects) + offset
        if normalise(draft.question) in known_questions:
            continue
        if kept_rows and float(np.max(vectors[kept_rows] @ vectors[row])) >= SAME_MEANING:
            continue
        kept.append(draft)
        kept_rows.append(row)
        known_questions.add(normalise(draft.question))
    return kept


async def _insert(session: AsyncSession, source: Source, drafts: list[Suggestion]) -> list[Topic]:
    topics = []
    for draft in drafts:
        topic = Topic(
            notebook_id=source.notebook_id,
            source_id=source.id,
            subject=draft.subject[:500],
            question=draft.question,
            normalized=normalise(draft.question),
            rationale=draft.rationale,
            score=draft.score,
            engine=draft.engine,
            passages=draft.passages,
        )
        try:
            async with session.begin_nested():
                session.add(topic)
                await session.flush()
        except IntegrityError:
            continue  # the same question arrived from another source meanwhile
        topics.append(topic)
    return topics


# -- reading, accepting, rejecting --------------------------------------------------------------


async def list_topics(
    session: AsyncSession, notebook: Notebook, status: str | None = None, limit: int = 100
) -> list[Topic]:
    query = select(Topic).where(Topic.notebook_id == notebook.id)
    if status is not None:
        query = query.where(Topic.status == status)
    query = query.order_by(Topic.score.desc(), Topic.created_at.desc(), Topic.id).limit(limit)
    return list(await session.scalars(query))


async def get_topic(session: AsyncSession, notebook: Notebook, topic_id: str) -> Topic:
    topic = await session.get(Topic, topic_id, populate_existing=True)
    if topic is None or topic.notebook_id != notebook.id:
        raise NotFound("topic not found")
    return topic


async def accept(
    session: AsyncSession, notebook: Notebook, topic: Topic, *, effort: str, use_web: bool
) -> tuple[ResearchRun, bool]:
    """Start the topic's research run, once: accepting again (even at the same moment) gives
    the same run; accepting a topic whose run failed or was cancelled retries that run."""
    run, created = await research.start(
        session, notebook, topic.question, effort=effort, use_web=use_web, topic=topic
    )
    if created:
        await research.set_status(session, run, research.QUEUED)
    elif run.status in (research.FAILED, research.CANCELLED):
        await research.retry(session, run)
    await session.refresh(topic)
    return run, created


async def reject(session: AsyncSession, topic: Topic) -> Topic:
    if topic.status not in (PENDING, REJECTED):
        raise Conflict(f"the topic is already {topic.status}; only a pending topic is rejected")
    topic.status = REJECTED
    await session.flush()
    return topic


def check_preferences(changes: dict[str, Any]) -> dict[str, Any]:
    """Preferred domains as bare lower-case host names, no repeats."""
    if "preferred_domains" in changes:
        domains = []
        for raw in changes["preferred_domains"] or []:
            domain = str(raw).strip().lower().removeprefix("https://").removeprefix("http://")
            domain = domain.split("/")[0]
            if not domain or " " in domain or "." not in domain:
                raise InvalidInput(f"not a domain name: {raw!r}")
            if domain not in domains:
                domains.append(domain)
        changes["preferred_domains"] = domains
    return changes
