"""Text a learner should never be taught: reference lists, page furniture, tables of
contents, URLs, licence headers, layout noise, and the scaffolding of generated reports.

Search and chat still find this text (a learner may ask for a reference); the study
engines skip it. Measured from outside, about half of the offline material made from an
encyclopedia article printed to PDF came from its footer ("Retrieved from https://...")
and its reference list. Three levels, all pure:

- `skipped_section(heading_path)`: a whole section under a heading such as "References",
  "Bibliography", "Contents", "Index" or a research report's "Sources" and "How this was
  researched" gives nothing.
- `spans(text)`: source-level spans that give nothing: lines repeated on three or more pages
  or sections, or on two when they begin or end with a number (running heads and footers;
  digits are ignored so that page numbers do not hide them),
  table-of-contents lines (dotted leaders, runs of lines ending in a page number), and
  citation lines (a year in parentheses with a quoted title, "Retrieved", DOI, ISBN, ...).
- `sentence_reason(text)`: a sentence that is a URL, a citation, a licence header, a
  numbered heading read as text, code or a shell session, a research report's note, OCR of a
  diagram (the same word twice in a row), or not a whole sentence (no final . ! or ?; a
  lead-in ending with a colon announces an example and teaches nothing alone).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence

from learningtool.text.sentences import normalize

_REFERENCE_HEADING = re.compile(
    r"(?:references?|bibliography|works cited|citations?|notes|footnotes|sources|"
    r"further reading|external links|see also|literature|index|(?:table of )?contents|"
    r"acknowledge?ments?|concept index|function and variable index|"
    r"how this was researched|what the (?:notebook|sources) (?:does|do) not cover)",
    re.IGNORECASE,
)
# "Appendix F References", "7. References", "Chapter 3 - Bibliography"
_HEADING_NUMBER = re.compile(
    r"^(?:(?:appendix|chapter|section|part)\s+)?(?:[A-Z]|[0-9IVXLC]+(?:\.[0-9]+)*)[.):\s-]+",
    re.IGNORECASE,
)
_URL = re.compile(r"https?://|\bwww\.\S|\b\S+\.(?:com|org|net|edu|gov|io)/\S*", re.IGNORECASE)
_CITATION = re.compile(
    r"\bRetrieved (?:from|on)\b|\bArchived from\b|\bdoi\s*:|\bdoi\.org\b|\bISBN\b|\bISSN\b|"
    r"\barXiv\b|\bPMID\b|\bet al\.|\bpp?\.\s*\d|\bvol\.\s*\d|\bIn:\s|"
    r"\((?:19|20)\d\d[a-z]?\)\.?\s*[\"\u201c]|\b(?:19|20)\d\d\.\s*[\"\u201c]",
    re.IGNORECASE,
)
_LICENCE_HEADER = re.compile(
    r"Free Software Foundation, Inc\.|\b51 Franklin St|\b59 Temple Place|"
    r"Everyone is permitted to copy and distribute verbatim copies|"
    r"Copyright \(C\)|Copyright ©|All rights reserved\.|SPDX-License-Identifier|"
    r"Permission is granted to (?:make and distribute|copy and distribute)",
    re.IGNORECASE,
)
# A heading read as body text: "1.8 R commands, case sensitivity, etc.", "Chapter 4: ..."
_NUMBERED_HEADING = re.compile(r"^(?:\d+(?:\.\d+)+\.?\s|(?:Chapter|Appendix)\s+[\dA-Z]+:?\s)")
_REPORT_NOTE = re.compile(r"^\*Written without a language model\.\*")
_TOC_LINE = re.compile(r"(?:\.\s?){3,}\s*\d+\s*$|\u2026{2,}\s*\d+\s*$")
_ENDS_WITH_PAGE = re.compile(r"\S.*\s\d{1,4}\s*$")
# A lead-in ending with a colon announces what follows (an example, a list): not a card.
_FINAL_PUNCTUATION = re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s*$")
_CODE = re.compile(r"^\s*[$>]\s|<-|==|[{};]\s*$|\w\(\w*\s*=|\s#\s")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_DIGITS = re.compile(r"\d+")
_MARKDOWN_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
REPEATED_AT = 3  # a line seen this often in one source is furniture
PAGED_REPEATED_AT = 2  # ... or this often when it begins or ends with a (page) number
MAX_FURNITURE_CHARS = 120


def skipped_section(heading_path: Sequence[str]) -> bool:
    """Is any heading of the path a reference list, index, contents or report scaffold?"""
    for heading in heading_path:
        title = _HEADING_NUMBER.sub("", heading.strip().strip("#").strip(), count=1)
        if _REFERENCE_HEADING.fullmatch(title.strip(" .:")):
            return True
    return False


def spans(text: str) -> list[tuple[int, int]]:
    """Spans of `text` (line by line) that are furniture, contents lines or citations."""
    lines = _lines(text)
    counts = Counter(key for _, _, key in lines if key)
    found: list[tuple[int, int]] = []
    run: list[tuple[int, int]] = []
    for start, end, key in lines:
        line = text[start:end]
        paged = key.startswith("#") or key.endswith("#")
        repeated = bool(key) and counts[key] >= (PAGED_REPEATED_AT if paged else REPEATED_AT)
        if repeated or any(p.search(line) for p in (_TOC_LINE, _CITATION, _URL)):
            found.append((start, end))
        if _ENDS_WITH_PAGE.match(line) and len(line.strip()) <= MAX_FURNITURE_CHARS:
            run.append((start, end))
            continue
        if len(run) >= REPEATED_AT:  # three short lines in a row ending in page numbers
            found.extend(run)
        run = []
    if len(run) >= REPEATED_AT:
        found.extend(run)
    return sorted(set(found))


def _lines(text: str) -> list[tuple[int, int, str]]:
    """(start, end, key) per non-empty line; the key (lower case, digits and spacing
    ignored) only for short lines with letters, the candidates for repeated furniture."""
    result: list[tuple[int, int, str]] = []
    position = 0
    for line in text.split("\n"):
        start, end = position, position + len(line)
        position = end + 1
        stripped = line.strip()
        if not stripped:
            continue
        key = ""
        if len(stripped) <= MAX_FURNITURE_CHARS and _WORD.search(stripped):
            key = " ".join(_DIGITS.sub("#", stripped.lower()).split())
        result.append((start, end, key))
    return result


def sentence_reason(sentence: str) -> str | None:
    """Why a sentence must not become study material, or None."""
    if _URL.search(sentence):
        return "url"
    if _CITATION.search(sentence):
        return "citation"
    if _LICENCE_HEADER.search(sentence):
        return "licence header"
    if _REPORT_NOTE.search(sentence.strip()):
        return "report scaffolding"
    if _NUMBERED_HEADING.match(sentence.strip()):
        return "heading"
    if _CODE.search(sentence):
        return "code"
    words = [w.lower() for w in _WORD.findall(sentence)]
    if any(a == b and len(a) > 3 for a, b in itertools.pairwise(words)):
        return "layout noise"  # OCR of a diagram reads neighbouring labels together
    if not _FINAL_PUNCTUATION.search(sentence):
        return "not a sentence"
    return None


_DEFINITION_ENTRY = re.compile(r"[a-z][\w.-]*\s+(?:\S+\s+)?[A-Z]")


def opens_mid_sentence(sentence: str, subject: str) -> bool:
    """Does the sentence open with a lower-case word that is neither the document's subject
    ("grep searches ...", in grep's manual page) nor a definition-list term ("all Enable
    all ...")? Then it is the tail of a sentence broken by a code block or a list
    ("will create a new branch ...", "which will replace the old commit ...")."""
    text = sentence.lstrip("\"'\u201c(")
    if not text[:1].islower():
        return False
    first = _WORD.match(text)
    if first and subject and first.group().lower() == subject:
        return False
    return not _DEFINITION_ENTRY.match(text)


def subject_of(title: str | None) -> str:
    """The first word of a document's title or file name, lower case ("grep.1.txt": grep)."""
    match = _WORD.search(title or "")
    return match.group().lower() if match else ""


COMMON_SHARE = 0.25  # a word in this share of a source's sections or more is everywhere
COMMON_MIN_SECTIONS = 8  # below this many sections, shares say nothing


def common_words(section_texts: Sequence[str]) -> frozenset[str]:
    """Words (`sentences.normalize` keys) found in at least `COMMON_SHARE` of the sections:
    a cloze answer made of one of them ("work", "License" in a licence, "need") tests
    nothing specific. Empty for short sources."""
    if len(section_texts) < COMMON_MIN_SECTIONS:
        return frozenset()
    seen: Counter[str] = Counter()
    for text in section_texts:
        seen.update({normalize(w) for w in _WORD.findall(text)})
    limit = COMMON_SHARE * len(section_texts)
    return frozenset(word for word, count in seen.items() if count >= limit)


def clean(text: str) -> str:
    """`text` without what `spans` finds and without sections under a reference, contents
    or scaffold heading (Markdown headings of the extracted text): the body a learner
    studies, for key phrases and topics. Removed lines become empty lines."""
    removed = spans(text)
    kept: list[str] = []
    skipping_level = 0
    position = 0
    for line in text.split("\n"):
        start, end = position, position + len(line)
        position = end + 1
        heading = _MARKDOWN_HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            if skipping_level and level > skipping_level:
                kept.append("")
                continue
            skipping_level = level if skipped_section([heading.group(2)]) else 0
        if skipping_level or overlaps(start, end, removed):
            kept.append("")
        else:
            kept.append(line)
    return "\n".join(kept)


def overlaps(start: int, end: int, skipped: Sequence[tuple[int, int]]) -> bool:
    """Does `[start, end)` meet any of the (sorted) skipped spans?"""
    return any(s < end and start < e for s, e in skipped)
