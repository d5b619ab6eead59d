"""The lexical index in the database: SQLite FTS5 (BM25) or PostgreSQL full-text search.

Both are maintained by the database itself (triggers, a generated column; migration 0002),
so every transaction that writes chunks updates them with no extra step. A question is
turned into an OR of its words: learners ask in sentences, and requiring every word (the
default of both engines) would find almost nothing.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool import spans

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 32
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "there",
        "these",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "into",
        "about",
        "than",
        "then",
        "them",
        "they",
        "we",
        "our",
        "not",
        "no",
    ]
)


def terms(question: str) -> list[str]:
    """The distinct words of a question worth matching, in order, lower-cased."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(question.lower()):
        if word not in STOPWORDS and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word, None)
    return list(seen)[:MAX_TERMS]


def _dialect(session: AsyncSession) -> str:
    bind = session.bind
    assert bind is not None, "sessions are bound to the app's engine"
    return bind.dialect.name


@spans.timed("knowledge.lexical")
async def search(
    session: AsyncSession, notebook_id: str, question: str, limit: int
) -> list[tuple[str, float]]:
    """(chunk id, score) pairs, best first; a higher score is a better match."""
    words = terms(question)
    if not words:
        return []
    if _dialect(session) == "sqlite":
        return await _sqlite(session, notebook_id, words, limit)
    return await _postgres(session, notebook_id, words, limit)


async def _sqlite(
    session: AsyncSession, notebook_id: str, words: list[str], limit: int
) -> list[tuple[str, float]]:
    match = " OR ".join('"' + word.replace('"', "") + '"' for word in words)
    # The notebook is checked on `chunks` (same rowid, triggers of 0002): its id columns
    # come before the text, whereas in the FTS row they come after it, so checking them
    # there read every match's text (a third of the query's time at 10,000 chunks).
    # CROSS JOIN keeps the FTS match as the outer loop (SQLite, with no statistics, would
    # otherwise walk the notebook's chunks and run the match once per chunk).
    rows = await session.execute(
        text(
            "SELECT c.id, bm25(chunks_fts) AS rank FROM chunks_fts "
            "CROSS JOIN chunks AS c ON c.rowid = chunks_fts.rowid "
            "WHERE chunks_fts MATCH :match AND c.notebook_id = :notebook "
            "ORDER BY rank LIMIT :limit"
        ),
        {"match": match, "notebook": notebook_id, "limit": limit},
    )
    return [(chunk_id, -rank) for chunk_id, rank in rows.all()]  # bm25(): lower is better


async def _postgres(
    session: AsyncSession, notebook_id: str, words: list[str], limit: int
) -> list[tuple[str, float]]:
    rows = await session.execute(
        text(
            "WITH q AS (SELECT to_tsquery('english', "
            "  coalesce(nullif(array_to_string(array("
            "    SELECT DISTINCT lexeme FROM unnest(to_tsvector('english', :words))"
            "  ), ' | '), ''), 'xxxxnothingxxxx')) AS query) "
            "SELECT c.id, ts_rank_cd(c.tsv, q.query, 1) AS rank FROM chunks c, q "
            "WHERE c.notebook_id = :notebook AND c.tsv @@ q.query "
            "ORDER BY rank DESC, c.id LIMIT :limit"
        ),
        {"words": " ".join(words), "notebook": notebook_id, "limit": limit},
    )
    return [(chunk_id, float(rank)) for chunk_id, rank in rows.all()]


async def absent(session: AsyncSession, notebook_id: str, words: list[str]) -> list[str]:
    """The words (each a single term) that no passage of the notebook contains; words
    that are no search term at all (stop words) are never reported."""
    missing = []
    for word in words:
        if terms(word) and not await search(session, notebook_id, word, 1):
            missing.append(word)
    return missing


async def rebuild(session: AsyncSession) -> None:
    """Rebuild the SQLite FTS table from `chunks` (PostgreSQL's column is generated)."""
    if _dialect(session) != "sqlite":
        return
    await session.execute(text("DELETE FROM chunks_fts"))
    await session.execute(
        text(
            "INSERT INTO chunks_fts(rowid, text, chunk_id, notebook_id) "
            "SELECT rowid, text, id, notebook_id FROM chunks"
        )
    )
