"""Checking each cited sentence of an answer against the passages it cites.

An extractive (offline) answer is checked by `check_quotes`: its sentences are quotes, so
the question is whether each quote answers what was asked. A written answer (LLM) is
checked by `check`: support is the share of the sentence's content words (stemmed crudely,
so "fixes"/"fixed" meet) found in the cited passages; a sentence is supported at
`SUPPORTED_AT` or more. With a language model configured, sentences the overlap check does
not clear are asked to it as a judge (entailment: does the passage state this?), so a
paraphrase is not flagged for its wording alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from pydantic import BaseModel

from learningtool import spans
from learningtool.chat import relevance
from learningtool.knowledge.embed import Embedder
from learningtool.llm import LlmClient, LlmError, UsageRecorder, delimit
from learningtool.text.words import content_words

SUPPORTED_AT = 0.6
_CITATION = re.compile(r"\[(\d{1,3})\]")
# The end of a sentence: its punctuation and the citation markers that follow it.
_BOUNDARY = re.compile(r"[.!?][\"')]*((?:\s*\[\d{1,3}\])*)\s+(?=[A-Z0-9\"'(])")


class Quoted(Protocol):
    """A sentence quoted from passage number `passage` (an offline answer's quote)."""

    passage: int
    text: str


@dataclass
class Claim:
    sentence: str
    citations: list[int]
    support: float
    supported: bool
    judged_by: str  # overlap | llm | relevance (a quote) | none (no citation to check)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def split_sentences(answer: str) -> list[str]:
    """Sentences of an answer, each keeping the citation markers that follow it."""
    parts: list[str] = []
    start = 0
    for boundary in _BOUNDARY.finditer(answer):
        parts.append(answer[start : boundary.end(1)])
        start = boundary.end()
    parts.append(answer[start:])
    return [part.strip() for part in parts if part.strip()]


def citations_in(sentence: str) -> list[int]:
    return sorted({int(n) for n in _CITATION.findall(sentence)})


def overlap_support(sentence: str, passages: Sequence[str]) -> float:
    words = content_words(_CITATION.sub("", sentence))
    if not words or not passages:
        return 0.0
    found = set().union(*(content_words(p) for p in passages))
    return len(words & found) / len(words)


class _Verdict(BaseModel):
    supported: bool


JUDGE = (
    "You check a claim against the passages it cites. Answer supported=true only if the "
    "passages state the claim (paraphrase is fine); false if they do not say it or say "
    "something else."
)


@spans.timed("chat.claims")
async def check(
    answer: str,
    passages: dict[int, str],
    *,
    llm: LlmClient | None = None,
    usage: UsageRecorder | None = None,
) -> list[Claim]:
    """One `Claim` per sentence of `answer`. Sentences without citations are not checked
    (support 0, supported False, judged_by "none") unless they are very short connectives."""
    claims: list[Claim] = []
    for sentence in split_sentences(answer):
        cited = [n for n in citations_in(sentence) if n in passages]
        if not cited:
            claims.append(Claim(sentence, [], 0.0, False, "none"))
            continue
        support = overlap_support(sentence, [passages[n] for n in cited])
        claim = Claim(sentence, cited, round(support, 3), support >= SUPPORTED_AT, "overlap")
        if not claim.supported and llm is not None:
            claim = await _judge(claim, [passages[n] for n in cited], llm, usage)
        claims.append(claim)
    return claims


@spans.timed("chat.claims_quotes")
async def check_quotes(
    question: str, quotes: Sequence[Quoted], passages: dict[int, str], embedder: Embedder
) -> list[Claim]:
    """One `Claim` per quote of an extractive answer. A quote is always its passage's own
    words, so word overlap would call every quote supported whatever was asked; instead a
    quote is supported when it is verbatim in the passage it cites AND, read on its own,
    answers the question (`relevance.score_text` at the embedder's `relevant_at` or more).
    The answer chose it reading it in context, so this is a second opinion that can
    disagree: a sentence that only made sense with its neighbours is flagged. `support` is
    the relevance read alone."""
    relevant_at = relevance.thresholds(embedder).relevant_at
    scores = await relevance.score_text(embedder, question, [q.text for q in quotes])
    claims: list[Claim] = []
    for quote, value in zip(quotes, scores, strict=True):
        verbatim = quote.text in passages.get(quote.passage, "")
        claims.append(
            Claim(
                f"{' '.join(quote.text.split())} [{quote.passage}]",
                [quote.passage],
                round(value, 3),
                verbatim and value >= relevant_at,
                "relevance",
            )
        )
    return claims


async def _judge(
    claim: Claim, passages: list[str], llm: LlmClient, usage: UsageRecorder | None
) -> Claim:
    user = (
        "Claim: "
        + claim.sentence
        + "\n\n"
        + "\n".join(delimit(f"passage-{i + 1}", text) for i, text in enumerate(passages))
    )
    try:
        verdict = await llm.structured(
            system=JUDGE, user=user, schema=_Verdict, task="judge", usage=usage
        )
    except LlmError:
        return claim  # the overlap verdict stands
    return Claim(claim.sentence, claim.citations, claim.support, verdict.value.supported, "llm")
