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


def _asks(draft: Draft) -> str | None:
    """What the learner is asked, in a form where two wordings of the same card meet."""
    if draft.kind == "summary":
        return None
    asked = draft.payload.get("front" if draft.kind == "flashcard" else "question", "")
    return " ".join(str(asked).casefold().split())


def distinct(drafts: list[Draft]) -> list[Draft]:
    """The drafts without a card or question already asked from the same source. A source
    that says a thing twice (a man page's synopsis and its options, a slide and its notes)
    would otherwise give the learner the same card twice in one review."""
    seen: set[tuple[str, str]] = set()
    kept: list[Draft] = []
    for draft in drafts:
        asks = _asks(draft)
        if asks is not None:
            if (draft.kind, asks) in seen:
                continue
            seen.add((draft.kind, asks))
        kept.append(draft)
    return kept
