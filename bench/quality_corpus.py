"""The quality bench's corpora: real public documents under `bench/quality/corpora/<name>/`
(where each comes from: `bench/quality/README.md`), their text as the service extracts it,
and the word arithmetic the question rules use."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from learningtool.text import words
from learningtool.text.words import stem

CORPORA_DIR = Path(__file__).resolve().parent / "quality" / "corpora"
QUESTIONS_DIR = Path(__file__).resolve().parent / "quality" / "questions"
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
# The service's stop words (`learningtool.text.words`) and a few more that a question's
# wording brings and its evidence need not share.
STOP = words.STOP | frozenset("my me your if any all one".split())


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


def content_words(text: str) -> set[str]:
    return {stem(w) for w in _WORD.findall(text) if w.lower() not in STOP and len(w) > 1}


def evidence_overlap(question: str, evidence: str) -> float:
    """Share of the question's content words found in its evidence sentence."""
    words = content_words(question)
    return len(words & content_words(evidence)) / len(words) if words else 0.0
