"""The quality bench's corpora: real public documents under `bench/quality/corpora/<name>/`
(where each comes from: `bench/quality/README.md`), their text as the service extracts it,
and the word arithmetic the question rules use."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

CORPORA_DIR = Path(__file__).resolve().parent / "quality" / "corpora"
QUESTIONS_DIR = Path(__file__).resolve().parent / "quality" / "questions"
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
STOP = frozenset(
    "a an the and or but of in on at to for from by with as is are was were be been being "
    "it its this that these those there their they them he she his her we you i not no "
    "do does did has have had can could may might will would should which who whom what "
    "when where why how than then so such also into about over under between my me your "
    "if any all one".split()
)


def corpus_names() -> list[str]:
    return sorted(p.name for p in CORPORA_DIR.iterdir() if p.is_dir())


def documents(corpus: str) -> list[Path]:
    return sorted(p for p in (CORPORA_DIR / corpus).iterdir() if p.is_file())


@cache
def extracted_texts(corpus: str) -> dict[str, str]:
    """Document file name -> the text the service extracts from it (no OCR, no speech)."""
    from learningtool.ingestion.extract import sniff_and_extract

    return {
        path.name: sniff_and_extract(path.read_bytes(), ocr=None, asr=None).text
        for path in documents(corpus)
    }


def normalise(text: str) -> str:
    """Whitespace collapsed: evidence matches across line wraps and extraction spacing."""
    return " ".join(text.split())


def _stem(word: str) -> str:
    word = word.lower()
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text) if w.lower() not in STOP and len(w) > 1}


def evidence_overlap(question: str, evidence: str) -> float:
    """Share of the question's content words found in its evidence sentence."""
    words = content_words(question)
    return len(words & content_words(evidence)) / len(words) if words else 0.0
