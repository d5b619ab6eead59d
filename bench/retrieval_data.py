"""Retrieval evaluation data: the Python tutorial as shipped by Debian's `python3-doc`, chunked
by our own pipeline, and the questions of `bench/retrieval_eval.json`.

The tutorial is real public prose that no one in this project wrote (install it with
`apt-get install python3-doc`; HTML under `/usr/share/doc/python3/html/tutorial/`). Each page
goes through `learningtool.ingestion.extract.extract(data, Kind.HTML)` and
`learningtool.ingestion.chunk.chunk(extracted, max_tokens=240, overlap_tokens=36)`, the
budget the service uses with a MiniLM-sized embedder.

A question names the page that answers it and one or more short evidence strings, verbatim
substrings of the page's extracted text: a retrieved chunk is a hit when, after whitespace
normalisation (runs of whitespace become one space, case kept), it contains any of them.
`check_eval()` proves every evidence string occurs in some chunk of its page.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from learningtool.ingestion.chunk import chunk
from learningtool.ingestion.document import Kind
from learningtool.ingestion.extract import extract

TUTORIAL_DIRS = (
    Path("/usr/share/doc/python3/html/tutorial"),
    Path("/usr/share/doc/python3-doc/html/tutorial"),
    Path("/usr/share/doc/python3.11/html/tutorial"),
)
EVAL_FILE = Path(__file__).with_name("retrieval_eval.json")
MAX_TOKENS = 240
OVERLAP_TOKENS = 36
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Passage:
    doc: str  # page file name without ".html", e.g. "controlflow"
    ordinal: int
    text: str
    title: str = ""  # the page's <title>
    heading_path: tuple[str, ...] = ()

    @property
    def with_context(self) -> str:
        """Title and headings, then the text: the form the service embeds a chunk in
        (`learningtool.knowledge.vectors.embed_text`)."""
        context = " > ".join(part for part in (self.title, *self.heading_path) if part)
        return f"{context}\n{self.text}" if context else self.text


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    question: str
    doc: str
    evidence: tuple[str, ...]
    paraphrased: bool


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def tutorial_dir() -> Path:
    for directory in TUTORIAL_DIRS:
        if (directory / "index.html").is_file():
            return directory
    raise FileNotFoundError(
        "The Python tutorial HTML is not installed: run `apt-get install python3-doc`."
    )


def load_passages(directory: Path | None = None) -> list[Passage]:
    """(doc, chunk) pairs of every tutorial page except the table of contents."""
    directory = directory or tutorial_dir()
    passages: list[Passage] = []
    for path in sorted(directory.glob("*.html")):
        if path.stem == "index":
            continue
        extracted = extract(path.read_bytes(), Kind.HTML)
        title = extracted.title or ""
        for piece in chunk(extracted, max_tokens=MAX_TOKENS, overlap_tokens=OVERLAP_TOKENS):
            passages.append(
                Passage(path.stem, piece.ordinal, piece.text, title, piece.heading_path)
            )
    return passages


def load_questions(path: Path = EVAL_FILE) -> list[Question]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return [
        Question(
            id=item["id"],
            question=item["question"],
            doc=item["doc"],
            evidence=tuple(item["evidence"]),
            paraphrased=bool(item.get("paraphrased", True)),
        )
        for item in raw["questions"]
    ]


def is_hit(passage_text: str, question: Question) -> bool:
    text = normalise(passage_text)
    return any(normalise(evidence) in text for evidence in question.evidence)


def check_eval(passages: list[Passage], questions: list[Question]) -> list[str]:
    """Problems with the evaluation set: evidence found in no chunk of its page."""
    problems = []
    for question in questions:
        own = [p for p in passages if p.doc == question.doc]
        if not own:
            problems.append(f"{question.id}: no page {question.doc!r}")
        for evidence in question.evidence:
            if not any(normalise(evidence) in normalise(p.text) for p in own):
                problems.append(f"{question.id}: evidence not in {question.doc}: {evidence!r}")
    return problems


@dataclass(frozen=True, slots=True)
class Scores:
    recall_at_5: float
    mrr_at_10: float
    recall_at_5_paraphrased: float
    misses: tuple[str, ...]  # ids of questions with no hit in the top 5


def evaluate(
    passages: Sequence[Passage], questions: Sequence[Question], similarity: NDArray[np.floating]
) -> Scores:
    """Recall@5 and MRR@10 of `similarity` (questions x passages, higher is closer)."""
    hits5: list[bool] = []
    reciprocal: list[float] = []
    for row, question in zip(similarity, questions, strict=True):
        order = np.argsort(-row, kind="stable")[:10]
        ranks = [r for r, i in enumerate(order) if is_hit(passages[int(i)].text, question)]
        hits5.append(bool(ranks) and ranks[0] < 5)
        reciprocal.append(1.0 / (ranks[0] + 1) if ranks else 0.0)
    para = [h for h, q in zip(hits5, questions, strict=True) if q.paraphrased]
    return Scores(
        recall_at_5=sum(hits5) / len(hits5),
        mrr_at_10=sum(reciprocal) / len(reciprocal),
        recall_at_5_paraphrased=sum(para) / max(1, len(para)),
        misses=tuple(q.id for h, q in zip(hits5, questions, strict=True) if not h),
    )


_TERM = re.compile(r"\w+")


def _terms(text: str) -> list[str]:
    return _TERM.findall(text.lower())


def bm25_similarity(
    passages: Sequence[Passage], queries: Sequence[str], k1: float = 1.5, b: float = 0.75
) -> NDArray[np.float64]:
    """Plain Okapi BM25 (lower-cased \\w+ terms, no stemming or stop words), as a baseline."""
    docs = [Counter(_terms(p.text)) for p in passages]
    lengths = np.array([sum(d.values()) for d in docs], dtype=np.float64)
    average = float(lengths.mean())
    frequency: Counter[str] = Counter()
    for doc in docs:
        frequency.update(doc.keys())
    n = len(docs)
    out = np.zeros((len(queries), n))
    for qi, query in enumerate(queries):
        for term in set(_terms(query)):
            df = frequency.get(term, 0)
            if not df:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            for di, doc in enumerate(docs):
                tf = doc.get(term, 0)
                if tf:
                    norm = k1 * (1 - b + b * lengths[di] / average)
                    out[qi, di] += idf * tf * (k1 + 1) / (tf + norm)
    return out


if __name__ == "__main__":
    found = load_passages()
    asked = load_questions()
    pages = sorted({p.doc for p in found})
    print(f"{len(found)} chunks from {len(pages)} pages; {len(asked)} questions")
    for problem in check_eval(found, asked):
        print("PROBLEM", problem)
    bm25 = evaluate(found, asked, bm25_similarity(found, [q.question for q in asked]))
    print(f"BM25: {bm25}")
