"""A chat message as the page shows it: the answer cut into its claims (sentences), each
marked supported, not supported by what it cites, or citing nothing, with its `[n]` markers
as links to the passage they cite (the exact quote highlighted when the answer quoted one),
and the list of the passages the answer rests on.

Kept apart from the routes (`web.chat`) because the same view is rendered in three places:
the session page, the no-JavaScript answer, and the last event of a streamed answer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from learningtool.chat.answer import NO_ANSWER
from learningtool.models import ChatMessage

_MARKER = re.compile(r"\[(\d{1,3})\]")
STATUS_WORDS = {
    "pending": "The answer is still being written. Reload the page in a moment.",
    "interrupted": "The answer was interrupted (the service stopped while writing it).",
    "failed": "The answer could not be made.",
}


@dataclass
class Piece:
    """Text of a sentence, or one of its citation markers (`n`, linked by `href`)."""

    text: str
    n: int | None = None
    href: str | None = None


@dataclass
class Sentence:
    pieces: list[Piece]
    verdict: str  # supported | unsupported | uncited | plain


@dataclass
class Cited:
    """One passage the answer cites, as listed under it."""

    n: int
    title: str
    where: str
    href: str
    excerpt: str


@dataclass
class MessageView:
    message: ChatMessage
    sentences: list[Sentence] = field(default_factory=list)
    cited: list[Cited] = field(default_factory=list)
    note: str | None = None  # about the answer as a whole (cites nothing, research)
    problem: str | None = None  # why there is no answer, in words


def passage_href(notebook_id: str, source_id: str, start: int, end: int) -> str:
    """The passage page with `start:end` highlighted (`web.sources.passage_page`)."""
    query = urlencode({"start": max(0, int(start)), "end": max(0, int(end))})
    return f"/notebooks/{notebook_id}/sources/{source_id}/passage?{query}"


def _flat(text: str) -> str:
    return " ".join(text.split())


def _span_for(citation: dict[str, Any], sentence: str) -> tuple[int, int]:
    """The quote of `citation` that `sentence` repeats, else its first quote, else the
    whole passage: the narrowest span that shows where the sentence comes from."""
    quotes = citation.get("quotes") or []
    flat = _flat(sentence)
    chosen = next((q for q in quotes if _flat(str(q.get("text", ""))) in flat), None)
    chosen = chosen or (quotes[0] if quotes else citation)
    return int(chosen["start_char"]), int(chosen["end_char"])


def _where(citation: dict[str, Any]) -> str:
    parts = []
    if citation.get("page") is not None:
        parts.append(f"page {citation['page']}")
    if citation.get("slide") is not None:
        parts.append(f"slide {citation['slide']}")
    if citation.get("heading_path"):
        parts.append(" \u203a ".join(citation["heading_path"]))
    return " · ".join(parts)


def pieces(sentence: str, notebook_id: str, citations: dict[int, dict[str, Any]]) -> list[Piece]:
    """`sentence` cut at its `[n]` markers; a marker of a known citation becomes a link."""
    found: list[Piece] = []
    start = 0
    for marker in _MARKER.finditer(sentence):
        if marker.start() > start:
            found.append(Piece(sentence[start : marker.start()]))
        n = int(marker.group(1))
        citation = citations.get(n)
        href = None
        if citation is not None:
            span = _span_for(citation, sentence)
            href = passage_href(notebook_id, str(citation["source_id"]), *span)
        found.append(Piece(marker.group(0), n, href))
        start = marker.end()
    if start < len(sentence):
        found.append(Piece(sentence[start:]))
    return found


def _verdict(claim: dict[str, Any], any_cited: bool) -> str:
    if claim.get("supported"):
        return "supported"
    if claim.get("citations"):
        return "unsupported"
    return "uncited" if any_cited else "plain"


def message_view(message: ChatMessage, notebook_id: str) -> MessageView:
    """What the page shows of `message` (a question is its text as typed)."""
    view = MessageView(message)
    if message.role != "assistant":
        return view
    if message.status != "complete":
        reason = (message.meta or {}).get("error")
        base = STATUS_WORDS.get(message.status, "The answer is not available.")
        said = _sentence(str(reason)) if reason and message.status != "pending" else base
        view.problem = base if said == base else f"{base} {said}"
        return view
    citations = {int(c["n"]): c for c in message.citations or [] if "n" in c}
    claims = [c for c in message.claims or [] if isinstance(c, dict) and c.get("sentence")]
    if not claims or message.content.startswith(NO_ANSWER):
        claims = [{"sentence": message.content, "citations": [], "supported": False}]
        any_cited = False
    else:
        any_cited = bool(citations)
    view.sentences = [
        Sentence(pieces(str(c["sentence"]), notebook_id, citations), _verdict(c, any_cited))
        for c in claims
    ]
    view.cited = [_cited(citation, notebook_id) for _, citation in sorted(citations.items())]
    if not citations and not message.content.startswith(NO_ANSWER):
        view.note = "This answer cites no passage of the notebook: check it before you rely on it."
    research = (message.meta or {}).get("research")
    if isinstance(research, dict):
        view.note = _research_note(research)
    return view


def _cited(citation: dict[str, Any], notebook_id: str) -> Cited:
    quotes = citation.get("quotes") or []
    span = (
        (quotes[0] if quotes else citation)["start_char"],
        (quotes[0] if quotes else citation)["end_char"],
    )
    excerpt = _flat(str((quotes[0] if quotes else citation).get("text", "")))
    return Cited(
        n=int(citation["n"]),
        title=str(citation.get("source_title") or "Untitled"),
        where=_where(citation),
        href=passage_href(notebook_id, str(citation["source_id"]), int(span[0]), int(span[1])),
        excerpt=excerpt if len(excerpt) <= 240 else excerpt[:239].rstrip() + "…",
    )


def _research_note(research: dict[str, Any]) -> str:
    status = research.get("status")
    if status == "done":
        return "Researched first: the answer draws on the passages the research report cites."
    reason = _sentence(str(research.get("error") or f"the research run ended as {status}"))
    return f"Researched first, without result: {reason} The answer uses the notebook alone."


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
