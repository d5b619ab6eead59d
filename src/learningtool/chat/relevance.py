"""How well a sentence answers a question, offline: the local embedder's cosine between the
question and the sentence read in context.

Word overlap (what the extractive answer used before) answered none of fourteen outside
questions: real questions are paraphrased. A sentence embedded alone loses what it is
about ("It is cut in half each time."), so each candidate is embedded twice, as its
document title and headings followed by the sentence, and as the sentence with its
neighbours, and the two cosines are averaged; a sentence of a passage ranked lower by the
search loses a little (`RANK_PENALTY` per place). On the dev questions of
`bench/quality.py` this put the evidence sentence among the four kept for 0.62 of the
answerable questions, against 0.52 for the bare sentence (and 0.30 for the old overlap
rule with its threshold); adding word overlap did not help. The bench reports the test
split. Figures and thresholds are for the packaged MiniLM embedder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from learningtool import spans
from learningtool.knowledge.embed import Embedder
from learningtool.text import boilerplate
from learningtool.text.sentences import split_sentences

RANK_PENALTY = 0.02
# Sentences are drawn from the best passages only: each costs two embeddings (about 15 ms
# of CPU apiece here), and on the dev questions the first 4 of the 8 retrieved passages
# gave the same figures as all 8 (0.54 answered with the evidence, 0.50 declined) at half
# the cost (24 candidate sentences per question instead of 47).
PASSAGES = 4
# What a sentence of an answer must not be (`boilerplate.sentence_reason`): a shell session
# or code, a citation, a URL, a heading read as text. A sentence cut by the passage's edge
# may still answer, so "not a sentence" is kept.
NOT_AN_ANSWER = frozenset({"code", "citation", "url", "heading", "layout noise"})
MIN_WORDS = 4
MAX_CHARS = 600


@dataclass(frozen=True)
class Thresholds:
    """`answer_at`: below it the best sentence does not answer (the notebook says nothing);
    `keep_at`: other sentences join the answer from here; `relevant_at`: a quote read alone
    (no title, no neighbours) below it is about something else (the claim check's verdict,
    a second opinion on a choice made with context)."""

    answer_at: float
    keep_at: float
    relevant_at: float


# Per embedder family: cosines of a trained model and of word hashing live on different
# scales. Models not listed (a provider's) get the trained model's figures. The trained
# `answer_at` handled the most dev questions right (answered with the evidence, or an
# unanswerable one declined): 61 of 112, against 59 at 0.3 and 55 at 0.55; `keep_at` 0.35
# lost one of those 61 and keeps unrelated sentences out of the answers.
TRAINED = Thresholds(answer_at=0.45, keep_at=0.35, relevant_at=0.3)
HASHING = Thresholds(answer_at=0.1, keep_at=0.1, relevant_at=0.1)


def thresholds(embedder: Embedder) -> Thresholds:
    return HASHING if embedder.name.startswith("hashing") else TRAINED


@dataclass(frozen=True)
class Candidate:
    """A sentence of passage number `group` (0-based): `text` is `source[start:end]`;
    `label` names where it is (title and headings), `around` is it with its neighbours."""

    group: int
    order: int
    start: int
    end: int
    text: str
    label: str
    around: str


@dataclass(frozen=True)
class Block:
    """A passage to draw sentences from: its text, where it starts in the source, and its
    label (document title and headings)."""

    text: str
    offset: int
    label: str


def candidates(blocks: Sequence[Block]) -> list[Candidate]:
    """Sentences of each block worth quoting: not headings, code, citations or URLs, not
    shorter than `MIN_WORDS` words, not longer than `MAX_CHARS`; spans in the source."""
    found: list[Candidate] = []
    for group, block in enumerate(blocks):
        spans = [s for s in split_sentences(block.text) if not s.heading]
        pieces = [block.text[s.start : s.end] for s in spans]
        for index, (sentence, piece) in enumerate(zip(spans, pieces, strict=True)):
            if len(piece) > MAX_CHARS or len(piece.split()) < MIN_WORDS:
                continue
            if boilerplate.sentence_reason(piece) in NOT_AN_ANSWER:
                continue
            around = " ".join(pieces[max(0, index - 1) : index + 2])
            found.append(
                Candidate(
                    group,
                    len(found),
                    block.offset + sentence.start,
                    block.offset + sentence.end,
                    piece,
                    block.label,
                    " ".join(around.split()),
                )
            )
    return found


@spans.timed("chat.relevance")
async def score(embedder: Embedder, question: str, found: Sequence[Candidate]) -> list[float]:
    """Relevance of each candidate to the question (higher is better)."""
    if not found:
        return []
    texts = [f"{c.label}: {' '.join(c.text.split())}".removeprefix(": ") for c in found]
    cosines = await _cosines(embedder, question, texts + [c.around for c in found])
    labelled, around = cosines[: len(found)], cosines[len(found) :]
    return [
        float((a + b) / 2) - RANK_PENALTY * c.group
        for a, b, c in zip(labelled, around, found, strict=True)
    ]


async def score_text(embedder: Embedder, question: str, sentences: Sequence[str]) -> list[float]:
    """Relevance of sentences read alone (no title, no neighbours): the claim check."""
    if not sentences:
        return []
    cosines = await _cosines(embedder, question, [" ".join(s.split()) for s in sentences])
    return [float(c) for c in cosines]


async def _cosines(embedder: Embedder, question: str, texts: list[str]) -> NDArray[np.float32]:
    query = np.asarray((await embedder.embed_query(question))[0], dtype=np.float32)
    vectors = np.asarray(await embedder.embed(texts), dtype=np.float32)
    result: NDArray[np.float32] = vectors @ query
    return result
