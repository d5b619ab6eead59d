"""What an engine hands back for a section: item drafts with their evidence spans, in one
shape whatever the engine, ready to be stored as study items."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from learningtool.study.offline import Span, StudyMaterial


@dataclass(frozen=True)
class Draft:
    """A summary, Q&A pair or flashcard. `start`/`end` index the source text (the evidence
    the learner is shown); `payload` is what the item says."""

    kind: str  # summary | qa | flashcard
    chunk_id: str
    start: int
    end: int
    payload: dict[str, Any] = field(default_factory=dict)


def _span(span: Span) -> dict[str, Any]:
    return {"chunk_id": span.chunk_id, "start": span.start_char, "end": span.end_char}


def from_material(material: StudyMaterial) -> list[Draft]:
    """The offline engine's output as drafts (its texts are verbatim spans of the source)."""
    drafts: list[Draft] = []
    summary = material.summary
    if summary.sentences:
        first, last = summary.sentences[0], summary.sentences[-1]
        drafts.append(
            Draft(
                "summary",
                first.chunk_id,
                first.start_char,
                last.end_char,
                {
                    "text": summary.text,
                    "sentences": [{"text": s.text, **_span(s)} for s in summary.sentences],
                    "key_points": [{"text": k.phrase, **_span(k.span)} for k in summary.key_points],
                },
            )
        )
    for qa in material.qa_pairs:
        context = qa.context_span
        drafts.append(
            Draft(
                "qa",
                context.chunk_id,
                context.start_char,
                context.end_char,
                {
                    "question": qa.question,
                    "answer": qa.answer,
                    "answer_span": _span(qa.answer_span),
                },
            )
        )
    for card in material.flashcards:
        context = card.context_span
        drafts.append(
            Draft(
                "flashcard",
                context.chunk_id,
                context.start_char,
                context.end_char,
                {
                    "front": card.front,
                    "back": card.back,
                    "style": "cloze",
                    "answer_span": _span(card.answer_span),
                },
            )
        )
    return drafts
