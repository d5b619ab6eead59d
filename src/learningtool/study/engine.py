"""The study engines behind one interface: offline (default: deterministic, no key) and LLM.

Both take sections (consecutive chunks of a source) and return drafts whose evidence is an
exact span of the source. The LLM engine asks for a verbatim quote with every item and keeps
only items whose quote is found in the section; a section whose LLM call fails falls back
to the offline engine, so a learner always gets material (the job result says so).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, Field

from learningtool.cpu import CpuPool
from learningtool.llm import LlmClient, LlmError, UsageRecorder, delimit
from learningtool.study.drafts import Draft, from_material
from learningtool.study.offline import Section, generate

SECTIONS_PER_TASK = 8
OFFLINE_SECONDS = 300.0


@dataclass
class Outcome:
    drafts: list[Draft]
    engine: str
    notes: list[str] = field(default_factory=list)


class StudyEngine(Protocol):
    name: str

    async def study(self, sections: Sequence[Section]) -> Outcome: ...


def offline_drafts(sections: Sequence[Section]) -> list[Draft]:
    """Run in a worker process: the offline engine over every section."""
    return [draft for section in sections for draft in from_material(generate(section))]


class OfflineEngine:
    name = "offline"

    def __init__(self, pool: CpuPool) -> None:
        self.pool = pool

    async def study(self, sections: Sequence[Section]) -> Outcome:
        """A few sections per task of the pool: a long source's material in one task held
        a process for seconds, and the next upload's extraction waited behind it."""
        drafts: list[Draft] = []
        for first in range(0, len(sections), SECTIONS_PER_TASK):
            group = list(sections[first : first + SECTIONS_PER_TASK])
            drafts += await self.pool.run(OFFLINE_SECONDS, offline_drafts, group)
        return Outcome(drafts, self.name)


class _Quoted(BaseModel):
    quote: str = Field(description="A verbatim passage of the source that supports this item.")


class _Sentence(_Quoted):
    text: str = Field(description="One summary sentence, in your own words.")


class _Qa(_Quoted):
    question: str
    answer: str


class _Card(_Quoted):
    front: str = Field(description="A question or prompt the learner answers from memory.")
    back: str = Field(description="The short answer.")


class StudyReply(BaseModel):
    summary: list[_Sentence] = Field(max_length=6)
    key_points: list[_Quoted] = Field(default_factory=list, max_length=8)
    qa: list[_Qa] = Field(default_factory=list, max_length=8)
    cards: list[_Card] = Field(default_factory=list, max_length=12)


SYSTEM = (
    "You write study material for a learner from the source text you are given: a short "
    "summary in your own words, the key points, question-and-answer pairs and flashcards. "
    "Every item must carry `quote`: a passage copied exactly, word for word, from the source "
    "that supports it. Use only what the source says."
)


class LlmEngine:
    name = "llm"

    def __init__(self, client: LlmClient, fallback: OfflineEngine) -> None:
        self.client = client
        self.fallback = fallback
        self.usage = UsageRecorder()

    async def study(self, sections: Sequence[Section]) -> Outcome:
        drafts: list[Draft] = []
        notes: list[str] = []
        for number, section in enumerate(sections):
            try:
                reply = await self.client.structured(
                    system=SYSTEM,
                    user=_prompt(section, number),
                    schema=StudyReply,
                    task="study",
                    usage=self.usage,
                )
            except LlmError as error:
                notes.append(f"section {number + 1}: {error.message}; used the offline engine")
                drafts.extend((await self.fallback.study([section])).drafts)
                continue
            drafts.extend(_drafts(section, reply.value))
        return Outcome(drafts, self.name, notes)


def _prompt(section: Section, number: int) -> str:
    where = " > ".join(part for part in (section.title or "", *section.heading_path) if part)
    return f"Section {number + 1} ({where or 'untitled'}):\n" + delimit(
        f"section-{number + 1}", section.text
    )


_SPACE = re.compile(r"\s+")


def locate(section: Section, quote: str) -> tuple[int, int] | None:
    """Where `quote` stands in the section, as source offsets; whitespace and case may
    differ (models re-flow text). None when it is not there: the item is dropped."""
    words = _SPACE.split(quote.strip().strip('"\u201c\u201d'))
    words = [w for w in words if w]
    if not words:
        return None
    pattern = r"\s+".join(re.escape(word) for word in words)
    match = re.search(pattern, section.text, re.IGNORECASE)
    if match is None:
        return None
    return section.start_char + match.start(), section.start_char + match.end()


def _chunk_at(section: Section, start: int, end: int) -> str | None:
    for chunk in section.chunks:
        if chunk.start_char <= start and end <= chunk.end_char:
            return chunk.chunk_id
    for chunk in section.chunks:  # a quote across a chunk boundary: its first chunk
        if chunk.start_char <= start < chunk.end_char:
            return chunk.chunk_id
    return None


def _drafts(section: Section, reply: StudyReply) -> list[Draft]:
    drafts: list[Draft] = []

    def evidence(quote: str) -> tuple[str, int, int] | None:
        span = locate(section, quote)
        if span is None:
            return None
        chunk_id = _chunk_at(section, *span)
        return (chunk_id, *span) if chunk_id else None

    sentences = [(s, evidence(s.quote)) for s in reply.summary]
    kept = [(s, e) for s, e in sentences if e]
    if kept:
        drafts.append(
            Draft(
                "summary",
                kept[0][1][0],
                min(e[1] for _, e in kept),
                max(e[2] for _, e in kept),
                {
                    "text": " ".join(s.text for s, _ in kept),
                    "sentences": [
                        {"text": s.text, "chunk_id": e[0], "start": e[1], "end": e[2]}
                        for s, e in kept
                    ],
                    "key_points": [
                        {"text": k.quote, "chunk_id": e[0], "start": e[1], "end": e[2]}
                        for k in reply.key_points
                        if (e := evidence(k.quote))
                    ],
                },
            )
        )
    for qa in reply.qa:
        if found := evidence(qa.quote):
            drafts.append(
                Draft(
                    "qa",
                    found[0],
                    found[1],
                    found[2],
                    {"question": qa.question, "answer": qa.answer},
                )
            )
    for card in reply.cards:
        if found := evidence(card.quote):
            drafts.append(
                Draft(
                    "flashcard",
                    found[0],
                    found[1],
                    found[2],
                    {"front": card.front, "back": card.back, "style": "basic"},
                )
            )
    return drafts
