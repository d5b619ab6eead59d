"""Checking each cited sentence of an answer against the passages it cites.

The offline check measures support as the share of the sentence's content words (stemmed
crudely, so "fixes"/"fixed" meet) found in the cited passages; a sentence is supported at
`SUPPORTED_AT` or more. With a language model configured, sentences the overlap check does
not clear are asked to it as a judge (entailment: does the passage state this?), so a
paraphrase is not flagged for its wording alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from pydantic import BaseModel

from learningtool.llm import LlmClient, LlmError, UsageRecorder, delimit

SUPPORTED_AT = 0.6
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
_CITATION = re.compile(r"\[(\d{1,3})\]")
# The end of a sentence: its punctuation and the citation markers that follow it.
_BOUNDARY = re.compile(r"[.!?][\"')]*((?:\s*\[\d{1,3}\])*)\s+(?=[A-Z0-9\"'(])")
STOP = frozenset(
    "a an the and or but of in on at to for from by with as is are was were be been being "
    "it its this that these those there their they them he she his her we you i not no "
    "do does did has have had can could may might will would should which who whom what "
    "when where why how than then so such also into about over under between".split()
)


@dataclass
class Claim:
    sentence: str
    citations: list[int]
    support: float
    supported: bool
    judged_by: str  # overlap | llm | none (no citation to check)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _stem(word: str) -> str:
    word = word.lower()
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text) if w.lower() not in STOP and len(w) > 1}


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
