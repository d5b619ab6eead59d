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

from learningtool.chat.claims import citations_in, content_words
from learningtool.knowledge.search import Passage
from learningtool.llm import LlmClient, LlmError, UsageRecorder, delimit

MAX_SENTENCES = 4
MIN_OVERLAP = 0.3
NO_ANSWER = "The notebook does not seem to answer this question."
_FOLLOW_UP = re.compile(
    r"\b(it|its|they|them|their|this|that|these|those|he|she|his|her|there|one)\b", re.I
)
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")


@dataclass
class Quote:
    passage: int  # 1-based
    start_char: int  # in the source text
    end_char: int
    text: str


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
    if _FOLLOW_UP.search(question) or len(content_words(question)) <= 3:
        return f"{earlier[-1]} {question}"  # a follow-up: carry the earlier topic along
    return question


def offline_answer(question: str, passages: Sequence[Passage]) -> Draft:
    """The sentences of the passages that best cover the question's words."""
    wanted = content_words(question)
    if not wanted:
        return Draft(NO_ANSWER)
    scored: list[tuple[float, int, Quote]] = []
    for number, passage in enumerate(passages, start=1):
        for match in _SENTENCE.finditer(passage.text):
            sentence = match.group().strip()
            words = content_words(sentence)
            if len(words) < 3:
                continue
            score = len(words & wanted) / len(wanted) - 0.01 * number
            start = (
                passage.start_char
                + match.start()
                + (len(match.group()) - len(match.group().lstrip()))
            )
            quote = Quote(number, start, start + len(sentence), sentence)
            scored.append((score, number, quote))
    scored.sort(key=lambda item: -item[0])
    chosen: list[Quote] = []
    for score, number, quote in scored:
        if score < MIN_OVERLAP or len(chosen) >= MAX_SENTENCES:
            break
        if sum(1 for q in chosen if q.passage == number) < 2 and quote.text not in {
            q.text for q in chosen
        }:
            chosen.append(quote)
    if not chosen:
        return Draft(NO_ANSWER)
    text = " ".join(f"{' '.join(q.text.split())} [{q.passage}]" for q in chosen)
    return Draft(text, chosen)


async def stream_answer(
    question: str,
    passages: Sequence[Passage],
    llm: LlmClient | None,
    usage: UsageRecorder | None = None,
) -> AsyncIterator[str | Draft]:
    """Text pieces as they come, then the final `Draft`. Offline, the extractive answer is
    emitted word by word (the same stream shape either way)."""
    if llm is None or not passages:
        draft = offline_answer(question, passages) if passages else Draft(NO_ANSWER)
        for piece in re.findall(r"\S+\s*", draft.text):
            yield piece
        yield draft
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
                    {"start_char": q.start_char, "end_char": q.end_char, "text": q.text}
                    for q in draft.quotes
                    if q.passage == n
                ],
            }
        )
    return result
