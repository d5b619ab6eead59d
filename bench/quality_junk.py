"""The quality bench's junk detector for study material: would a learner throw this item
away? It is written apart from the generator's own filters (it must be able to disagree
with them) and is itself scored against hand labels in `bench/quality/labels/`.

An item is junk when what it teaches is not the document's subject matter: bibliography,
URLs, page furniture, tables of contents, licence headers, code or layout noise, or a
sentence cut in pieces; or when a card cannot be learned: a cloze answer that is a URL
fragment, a bare number, a stop word or two letters, a front too short to ask anything.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

LABELS_DIR = Path(__file__).resolve().parent / "quality" / "labels"

_URL = re.compile(r"https?://|www\.|\b[\w-]+\.(?:com|org|net|edu|gov|io)\b", re.I)
_BIBLIO = re.compile(
    r"\bet al\.|\bpp\.\s*\d|\bvol\.\s*\d|\bISBN\b|\bdoi\b|\barXiv\b|\bRetrieved\b"
    r"|\bProceedings of\b|\bJournal of\b|\(\s*(?:19|20)\d\d\s*\)\s*[.,]|\bIn:\s"
    r"|(?-i:(?:\b[A-Z]\.\s){1,2}[A-Z][a-z]+,.*\b[A-Z]\.\s[A-Z][a-z]+)|\bRFC\s\d{3,4}\b",
    re.I,
)
_FURNITURE = re.compile(
    r"\.{4,}|\u2026{2,}|\bJump to\b|\bpage \d+ of \d+\b|\bTable of contents\b|\bContents\b\s*$",
    re.I,
)
_LICENCE_HEADER = re.compile(
    r"Free Software Foundation, Inc\.|51 Franklin St|Everyone is permitted to copy and "
    r"distribute verbatim copies|Copyright \(C\)|<https?://fsf\.org/>|<name of author>",
    re.I,
)
STOP = frozenset(
    "a an the and or but of in on at to for from by with as is are was were be been it its "
    "this that these those he she they we you i not no do does did has have had can may "
    "will would should which who what when where why how than then so such also into about "
    "all any each more most other some same only own very just one".split()
)
# Single-word answers that test nothing of the subject: common verbs and nouns any text has.
_GENERIC = frozenset(
    """
    way ways thing things part parts kind kinds value values case cases example examples
    number numbers time times terms term details detail form forms use used make made know
    known apply applies applied see seen need needs note notes following above below
    suppose adds add show shows tell tells give gives get gets set sets want wants first
    last same other others section chapter page point points result results fact facts
    information data work works copy copies portion portions free easiest easy simple
    generate store resolve merges default
    """.split()
)
_DANGLING = frozenset("a an the of to for and or in on with by from as at that which".split())
_FRAGMENTS = frozenset("https http www com org net html pdf doi isbn url".split())
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*")


def shown(item: dict[str, Any]) -> dict[str, Any]:
    """What a learner sees of an item (and what is labelled)."""
    kind = item["kind"]
    if kind == "summary":
        return {"kind": kind, "document": item.get("document"), "text": item.get("text", "")}
    if kind == "qa":
        return {
            "kind": kind,
            "document": item.get("document"),
            "question": item.get("question", ""),
            "answer": item.get("answer", ""),
        }
    return {
        "kind": kind,
        "document": item.get("document"),
        "front": item.get("front", ""),
        "back": item.get("back", ""),
    }


def reason(item: dict[str, Any]) -> str | None:
    """Why the item is junk, or None when it is worth studying."""
    kind = item["kind"]
    if kind == "summary":
        return _text_reason(item.get("text", ""), minimum_words=8)
    if kind == "qa":
        question, answer = item.get("question", ""), item.get("answer", "")
        return (
            _text_reason(question, minimum_words=3, sentence=False)
            or _text_reason(answer, minimum_words=3, sentence=False)
            or _fragment_reason(answer)
            or _subject_reason(question)
        )
    front, back = item.get("front", ""), item.get("back", "")
    whole = front.replace("[...]", back)  # what the card teaches, as the document says it
    return (
        _text_reason(whole, minimum_words=6)
        or _fragment_sentence(front)
        or _answer_reason(back)
        or _subject_answer(back, item.get("document") or "")
        or _text_reason(back, minimum_words=1, sentence=False)
    )


def _text_reason(text: str, *, minimum_words: int, sentence: bool = True) -> str | None:
    words = _WORD.findall(text)
    if len(words) < minimum_words:
        return "too short"
    if _URL.search(text):
        return "url"
    if _BIBLIO.search(text):
        return "bibliography"
    if _FURNITURE.search(text):
        return "page furniture"
    if _LICENCE_HEADER.search(text):
        return "licence header"
    letters = sum(c.isalpha() for c in text)
    if letters < 0.6 * len(text.replace(" ", "")):
        return "code or layout noise"
    if sentence and _repeated_word(words):
        return "layout noise"
    return None


_CODE = re.compile(r"^\s*[$>#%]\s|[{};]\s*$|<-|==|\w\(\w*[,=]|\$\w|\s--?\w+\s+\$")
# A sentence opens with the blank, a quote, a capital, a digit, an option or a path, or
# is a definition-list entry ("all Enable all of ...": a lower-case term, then a capital).
_OPENING = re.compile(
    r"^(?:\[\.\.\.\]|[\"'\u201c(]|[A-Z0-9]|[-%~/$]|[a-z][\w.-]*\s+(?:\S+\s+)?[A-Z])"
)
_CLOSING = re.compile(r"[.!?][\"'\u201d\u2019)\]]*$")


def _fragment_sentence(front: str) -> str | None:
    """A card must show a whole sentence: one that opens like a sentence (a capital, a
    number, an option, a quote or the blank) and ends with . ! or ?."""
    text = front.strip()
    if not _OPENING.match(text):
        return "starts mid-sentence"
    if not _CLOSING.search(text):
        return "not a whole sentence"
    if re.search(r"[_.]\[\.\.\.\]|\[\.\.\.\][_(]", text):
        return "blank inside a name"
    if _CODE.search(text):
        return "code"
    return None


def _repeated_word(words: list[str]) -> bool:
    """OCR of a diagram reads labels next to each other: "network network"."""
    lowered = [w.lower() for w in words]
    return any(a == b and len(a) > 2 for a, b in itertools.pairwise(lowered))


def _answer_reason(answer: str) -> str | None:
    stripped = answer.strip(" .,:;()[]\"'")
    lowered = stripped.lower()
    if not stripped:
        return "empty answer"
    if re.fullmatch(r"[\d.,%]+", stripped) and not re.fullmatch(r"1[5-9]\d\d|20\d\d", stripped):
        return "answer is a number"
    if lowered in STOP or lowered in _FRAGMENTS:
        return "answer is a stop word or url fragment"
    if len(stripped) <= 2:
        return "answer too short"
    if lowered in _GENERIC:
        return "generic answer"
    return None


def _subject_answer(answer: str, document: str) -> str | None:
    """The document's own subject as the answer ("find" in find's manual page, "Git" in
    the Git manual): true of every sentence of it, so the card tests nothing."""
    words = _WORD.findall(answer)
    name = re.split(r"[._-]", document.lower())[0] if document else ""
    if len(words) == 1 and name and words[0].lower() == name:
        return "answer is the document's subject"
    if re.search(r"\n\s{4,}\S", answer):
        return "answer spans layout columns"
    return None


def _fragment_reason(answer: str) -> str | None:
    words = _WORD.findall(answer)
    if words and words[-1].lower() in _DANGLING and not answer.rstrip().endswith((".", "!", "?")):
        return "answer cut mid-sentence"
    return None


def _subject_reason(question: str) -> str | None:
    """A question about a subject no learner would name ("What is RAG systems...")."""
    match = re.match(r"(?:What|Who) (?:is|are|was|were) (.+?)[?,]", question)
    if match and _repeated_word(_WORD.findall(match.group(1))):
        return "garbled subject"
    return None


def check_labels(corpus: str) -> dict[str, Any] | None:
    """The detector against the hand labels of `corpus`: agreement, precision, recall."""
    path = LABELS_DIR / f"{corpus}.json"
    if not path.exists():
        return None
    items = [i for i in json.loads(path.read_text())["items"] if i.get("label") is not None]
    if not items:
        return None
    tp = fp = fn = tn = 0
    for labelled in items:
        said = reason(labelled) is not None
        junk = labelled["label"] == "junk"
        tp += said and junk
        fp += said and not junk
        fn += junk and not said
        tn += not junk and not said
    return {
        "labelled": len(items),
        "junk_labelled": tp + fn,
        "agreement": round((tp + tn) / len(items), 3),
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
    }
