"""Answering a question from the notebook: rewrite it with the conversation, retrieve,
answer with [n] citations (streamed), and map every [n] to a passage span.

Citation numbers are the positions of the retrieved passages (1-based), so an answer can
stream its markers as they come; `citations_for` keeps the passages the answer cites.
Offline, the answer is extractive: the best-supported sentences of the passages, each
followed by its passage's number, and each quote's exact span is recorded.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from learningtool import spans
from learningtool.chat import relevance
from learningtool.chat.claims import citations_in
from learningtool.knowledge.embed import Embedder
from learningtool.knowledge.search import Passage
from learningtool.llm import LlmClient, LlmError, UsageRecorder, delimit
from learningtool.text.words import content_words

MAX_SENTENCES = 4
NO_ANSWER = "The notebook does not seem to answer this question."
FOLLOW_UP_WORDS = 3  # content words: a question this short leans on the one before
FOLLOW_UP_WORDS_WITH_PRONOUN = 5
_FOLLOW_UP = re.compile(
    r"\b(it|its|they|them|their|this|that|these|those|he|she|his|her|there|one)\b", re.I
)


@dataclass
class Quote:
    passage: int  # 1-based
    start_char: int  # in the source text
    end_char: int
    text: str
    relevance: float | None = None  # to the question, offline (`relevance.score`)


@dataclass
class Draft:
    """An answer in the making: its text and the exact quotes it used (offline)."""

    text: str
    quotes: list[Quote] = field(default_factory=list)


class _Rewrite(BaseModel):
    question: str


REWRITE = (
    "Rewrite the learner's last question so that it stands alone, using the conversation "
    "for what its pronouns and ellipses refer to. Keep its meaning; do not answer it."
)
ANSWER = (
    "You answer a learner's question using only the numbered passages from their notebook. "
    "After every sentence, cite the passages that support it as [n] (for example [2] or "
    "[1][3]). If the passages do not answer the question, say so briefly. Be concise."
)


@spans.timed("chat.rewrite")
async def rewrite(
    question: str,
    history: Sequence[tuple[str, str]],
    llm: LlmClient | None,
    usage: UsageRecorder | None = None,
) -> str:
    """A standalone version of `question`, given the earlier turns (role, content)."""
    earlier = [content for role, content in history if role == "user"]
    if not earlier:
        return question
    if llm is not None:
        turns = "\n".join(f"{role}: {content}" for role, content in history[-6:])
        try:
            result = await llm.structured(
                system=REWRITE,
                user=delimit("conversation", turns) + f"\nLast question: {question}",
                schema=_Rewrite,
                task="rewrite",
                usage=usage,
            )
            return result.value.question.strip() or question
        except LlmError:
            pass
    if is_follow_up(question):
        return f"{earlier[-1]} {question}"  # carry the earlier topic along
    return question


def is_follow_up(question: str) -> bool:
    """Offline, whether a question leans on the earlier turn: it is short ("And its
    history?"), or a pronoun stands in a question that says little by itself ("Which enzyme
    drives its first step?"). A pronoun alone is no sign: "Is it a good idea to put my
    password in the remote URL?" stands on its own, and reading it as a follow-up carried the
    last question's topic into it (a learner asking one thing after another in a session
    was told the notebook "never mentions" what the question before named)."""
    words = len(content_words(question))
    return words <= FOLLOW_UP_WORDS or (
        words <= FOLLOW_UP_WORDS_WITH_PRONOUN and _FOLLOW_UP.search(question) is not None
    )


async def offline_answer(question: str, passages: Sequence[Passage], embedder: Embedder) -> Draft:
    """The sentences of the passages closest in meaning to the question, or `NO_ANSWER`
    when even the best of them is not close enough (`relevance.thresholds`)."""
    candidates = relevance.candidates([block(p) for p in passages[: relevance.PASSAGES]])
    if not candidates:
        return Draft(NO_ANSWER)
    scores = await relevance.score(embedder, question, candidates)
    ranked = sorted(
        zip(scores, candidates, strict=True), key=lambda pair: (-pair[0], pair[1].order)
    )
    best = ranked[0][0]
    limits = relevance.thresholds(embedder)
    if best < limits.answer_at:
        return Draft(NO_ANSWER)
    chosen: list[Quote] = []
    for value, candidate in ranked:
        if len(chosen) >= MAX_SENTENCES or value < limits.keep_at:
            break
        number = candidate.group + 1
        if sum(1 for q in chosen if q.passage == number) >= 2:
            continue
        if any(q.text == candidate.text for q in chosen):
            continue
        chosen.append(
            Quote(number, candidate.start, candidate.end, candidate.text, round(value, 3))
        )
    text = " ".join(f"{' '.join(q.text.split())} [{q.passage}]" for q in chosen)
    return Draft(text, chosen)


def block(passage: Passage) -> relevance.Block:
    """A passage as sentences are drawn from it: labelled with its title and headings."""
    label = " > ".join([passage.source_title, *passage.heading_path])
    return relevance.Block(passage.text, passage.start_char, label)


def not_covered(unknown: Sequence[str]) -> Draft:
    """The answer to a question naming what the notebook never mentions."""
    listed = ", ".join(f"\u201c{name}\u201d" for name in unknown)
    return Draft(f"{NO_ANSWER} It never mentions {listed}.")


async def stream_answer(
    question: str,
    passages: Sequence[Passage],
    llm: LlmClient | None,
    usage: UsageRecorder | None = None,
    *,
    embedder: Embedder,
) -> AsyncIterator[str | Draft]:
    """Text pieces as they come, then the final `Draft`. Offline, the extractive answer is
    emitted word by word (the same stream shape either way)."""
    if llm is None or not passages:
        draft = await offline_answer(question, passages, embedder) if passages else Draft(NO_ANSWER)
        async for piece in stream_draft(draft):
            yield piece
        return
    numbered = "\n".join(
        delimit(f"{n}", f"{p.source_title}: {p.text}") for n, p in enumerate(passages, start=1)
    )
    pieces: list[str] = []
    async for token in llm.stream_text(
        system=ANSWER, user=f"Passages:\n{numbered}\n\nQuestion: {question}", usage=usage
    ):
        pieces.append(token)
        yield token
    yield Draft("".join(pieces))


async def stream_draft(draft: Draft) -> AsyncIterator[str | Draft]:
    """A finished answer as a stream: word by word, then the draft itself."""
    for piece in re.findall(r"\S+\s*", draft.text):
        yield piece
    yield draft


def citations_for(draft: Draft, passages: Sequence[Passage]) -> list[dict[str, Any]]:
    """The passages the answer cites (by their [n]), with their spans and exact quotes."""
    cited = [n for n in citations_in(draft.text) if 1 <= n <= len(passages)]
    result = []
    for n in cited:
        p = passages[n - 1]
        result.append(
            {
                "n": n,
                "chunk_id": p.chunk_id,
                "source_id": p.source_id,
                "source_title": p.source_title,
                "start_char": p.start_char,
                "end_char": p.end_char,
                "page": p.page,
                "slide": p.slide,
                "heading_path": p.heading_path,
                "audio_start": p.audio_start,
                "audio_end": p.audio_end,
                "text": p.text,
                "quotes": [
                    {
                        "start_char": q.start_char,
                        "end_char": q.end_char,
                        "text": q.text,
                        "relevance": q.relevance,
                    }
                    for q in draft.quotes
                    if q.passage == n
                ],
            }
        )
    return result
