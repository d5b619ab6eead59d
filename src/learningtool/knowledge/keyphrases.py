"""Key phrases: the offline entities of the knowledge graph (no LLM, no data download).

`extract` ranks a passage's candidate phrases with YAKE (statistical, needs no model or data)
and keeps the best few after normalising them, so that the same concept gets one name
wherever it appears: lower case, possessives and simple plurals folded ("Chloroplasts" and
"chloroplast" are one entity), leading and trailing weak words trimmed ("releasing carbon
dioxide" becomes "carbon dioxide"), phrases with a stop word inside dropped ("atp and nadph").
`query_tokens` turns a question into the same normalised words, so a question's words can be
matched against entity names. Everything here is deterministic and pure CPU: callers run it
in a worker process or a thread, never on the service's event loop (YAKE reads its stop-word
list from a file on first use).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any

MAX_PHRASE_WORDS = 3
WORD = re.compile(r"[^\W_]+(?:['\u2019-][^\W_]+)*", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n{2,}")
# Words YAKE's list lacks that make poor phrase edges: auxiliaries and very common verbs.
_WEAK = frozenset(
    [
        "also",
        "use",
        "uses",
        "used",
        "using",
        "make",
        "makes",
        "made",
        "making",
        "take",
        "takes",
        "took",
        "taken",
        "taking",
        "give",
        "gives",
        "gave",
        "given",
        "giving",
        "get",
        "gets",
        "got",
        "show",
        "shows",
        "showed",
        "shown",
        "find",
        "finds",
        "found",
        "produce",
        "produces",
        "produced",
        "producing",
        "call",
        "called",
        "calls",
        "include",
        "includes",
        "included",
        "including",
        "occur",
        "occurs",
        "occurred",
        "process's",
        "via",
        "within",
        "without",
        "will",
        "would",
        "can",
        "could",
        "may",
        "might",
        "must",
        "shall",
        "should",
        "does",
        "did",
        "done",
        "do",
        "doing",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "has",
        "have",
        "had",
        "having",
        "whose",
        "which",
        "what",
        "when",
        "where",
        "why",
        "how",
        "who",
        "whom",
    ]
)


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """YAKE's English stop words plus `_WEAK` (read once from the yake package)."""
    listing = resources.files("yake").joinpath("core/StopwordsList/stopwords_en.txt")
    words = {line.strip().lower() for line in listing.read_text(encoding="utf-8").splitlines()}
    return frozenset(w for w in words if w) | _WEAK


@lru_cache(maxsize=4)
def _extractor(top: int) -> Any:
    import yake  # type: ignore[import-untyped]

    return yake.KeywordExtractor(lan="en", n=MAX_PHRASE_WORDS, top=top, stopwords=stopwords())


def normalise_token(word: str) -> str:
    """Lower case, possessive and simple plural folded: "cells" -> "cell", "cell's" -> "cell"."""
    token = word.lower().replace("\u2019", "'")
    if token.endswith("'s"):
        token = token[:-2]
    token = token.strip("'-")
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 4 and token.endswith(("sses", "xes", "ches", "shes", "zzes")):
        return token[:-2]
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is", "os")):
        return token[:-1]
    return token


def tokens(text: str) -> list[str]:
    """The normalised words of `text`, in order (stop words kept)."""
    out = []
    for word in WORD.findall(text):
        token = normalise_token(word)
        if token:
            out.append(token)
    return out


def normalise_phrase(phrase: str) -> str:
    return " ".join(tokens(phrase))


def _trim(words: list[str]) -> list[str]:
    stop = stopwords()
    start, end = 0, len(words)
    while start < end and (words[start] in stop or words[start].endswith(("ing", "ly"))):
        start += 1
    while end > start and (words[end - 1] in stop or words[end - 1].endswith("ly")):
        end -= 1
    return words[start:end]


def _acceptable(words: list[str]) -> bool:
    if not words or any(w in stopwords() for w in words):
        return False
    if all(w.isdigit() for w in words):
        return False
    return len("".join(words)) >= 3


def extract(text: str, limit: int = 8) -> list[str]:
    """Up to `limit` normalised key phrases of `text`, best first, without repeats; a single
    word already inside a kept longer phrase is left out ("calvin" beside "calvin cycle")."""
    if not text.strip() or limit <= 0:
        return []
    candidates: list[tuple[str, float]] = _extractor(max(20, 3 * limit)).extract_keywords(text)
    kept: list[str] = []
    for phrase, _score in candidates:
        words = _trim(tokens(phrase))
        if not _acceptable(words):
            continue
        name = " ".join(words)
        if name not in kept:
            kept.append(name)
    multi = {w for name in kept if " " in name for w in name.split()}
    phrases = [name for name in kept if " " in name or name not in multi]
    return phrases[:limit]


def query_tokens(question: str) -> list[str]:
    """The distinct normalised content words of a question, in order."""
    stop = stopwords()
    seen: dict[str, None] = {}
    for token in tokens(question):
        if token not in stop and (len(token) > 1 or token.isdigit()):
            seen.setdefault(token, None)
    return list(seen)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


@lru_cache(maxsize=512)
def _indexed_sentences(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((s, f" {' '.join(tokens(s))} ") for s in sentences(text))


def snippet(text: str, *phrases: str, max_chars: int = 240) -> str | None:
    """The first sentence of `text` that contains every one of `phrases` (normalised word
    sequences), cut to `max_chars`; None when no sentence does."""
    wanted = [f" {p} " for p in phrases]
    for sentence, normalised in _indexed_sentences(text):
        if all(w in normalised for w in wanted):
            return sentence if len(sentence) <= max_chars else sentence[: max_chars - 1] + "…"
    return None
