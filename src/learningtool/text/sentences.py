"""Sentence splitting and word tokens with exact offsets, for the offline study engine.

Every position returned here is an index into the text given (plus `offset`), so callers can
map any sentence, word or phrase back to the source: `text[start:end]` is always the piece.
The splitter is rule based and deterministic, tuned for extracted textbook prose: it keeps
abbreviations (e.g., i.e., Dr., Fig. 2, et al.), initials and decimals inside a sentence,
treats list items and Markdown headings as their own units (a heading is never a sentence
candidate), reads a short first line without final punctuation followed by a capitalised
line as a heading (PDF headings arrive that way), and joins hard-wrapped lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STOPWORDS = frozenset(
    """
    a about above across after afterwards again against all almost alone along already also
    although always am among amongst an and another any anyhow anyone anything anyway anywhere
    are around as at be became because become becomes becoming been before beforehand behind
    being below beside besides between beyond both but by can cannot could did do does doing
    done down due during each either else elsewhere enough especially etc even ever every
    everyone everything everywhere except few first for former formerly from further had has
    have having he hence her here hereby herein hers herself him himself his how however i if
    in indeed into is it its itself just last latter least less many may me meanwhile might
    mine more moreover most mostly much must my myself namely neither never nevertheless next
    no nobody none nor not nothing now nowhere of off often on once one only onto or other
    others otherwise our ours ourselves out over own per perhaps rather same several she should
    since so some somehow someone something sometimes somewhere still such than that the their
    theirs them themselves then thence there thereafter thereby therefore therein these they
    this those though through throughout thus to together too toward towards under until up
    upon us usually very via was we well were what whatever when whence whenever where whereas
    whereby wherein whether which while whither who whoever whole whom whose why will with
    within without would yet you your yours yourself yourselves also called known like used
    using use uses make makes made include includes including includes get gets got take takes
    took given give gives say says said see seen shown show shows let lets two three four five
    six seven eight nine ten hundred hundreds thousand thousands million millions consist
    consists consisted comprise comprises comprised refer refers referred mean means meant
    define defines defined describe describes described occur occurs occurred contain contains
    contained depend depends depended involve involves involved require requires required allow
    allows allowed provide provides provided represent represents represented remain remains
    remained begin begins began begun become becomes became seem seems seemed tend tends tended
    appear appears appeared exist exists existed
    """.split()
)

# Words that end a sentence with a period only rarely: the period belongs to the word.
ABBREVIATIONS = frozenset(
    """
    e.g i.e cf vs viz al approx ca dr mr mrs ms prof sr jr st mt fig figs eq eqs no nos vol
    vols pp p ch chap sec secs art dept univ inc ltd co corp gen gov rev ed eds est resp jan
    feb mar apr jun jul aug sep sept oct nov dec a.m p.m u.s u.k ph.d b.c a.d
    """.split()
)

_BLOCK_GAP = re.compile(r"\n[ \t]*\n")
_MARKDOWN_HEADING = re.compile(r"[ \t]{0,3}#{1,6}(?:[ \t]|$)")
_LIST_MARKER = re.compile(
    r"[ \t]*(?:[-*+\u2022\u00b7\u25aa\u25e6\u2013]|\(?\d{1,3}[.)]|\(?[a-z][.)])[ \t]+"
)
_TABLE_ROW = re.compile(r"\|.*\|")
_TERMINATOR = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s|$)|[\u3002\uff01\uff1f]")
_DOTTED = re.compile(r"(?:[^\W\d_]{1,2}\.)+[^\W\d_]{1,2}")
_END_PUNCT = re.compile(r"[.!?:;,\u2026\u3002\uff01\uff1f][\"'\u201d\u2019)\]]*$")
TOKEN = re.compile(r"\d+(?:[.,]\d+)+|[^\W_](?:[^\W_]|['\u2019\-](?=[^\W_]))*")
_OPENING = "\"'\u201c\u2018([¿¡"


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence (or heading / list item) of the text: `text[start:end]`, trimmed.

    `heading` marks a heading-like line, never a candidate for study items; `paragraph` numbers
    the blank-line separated blocks."""

    start: int
    end: int
    heading: bool
    paragraph: int


def split_sentences(text: str, offset: int = 0) -> list[Sentence]:
    """The sentences of `text` in order, positions shifted by `offset`."""
    result: list[Sentence] = []
    paragraph = 0
    position = 0
    for gap in [*_BLOCK_GAP.finditer(text), None]:
        block_end = gap.start() if gap else len(text)
        units = _units(text, position, block_end)
        if units:
            for start, end, heading in units:
                pieces = [(start, end)] if heading else _sentences(text, start, end)
                for s, e in pieces:
                    result.append(Sentence(s + offset, e + offset, heading, paragraph))
            paragraph += 1
        position = gap.end() if gap else len(text)
    return result


def _units(text: str, start: int, end: int) -> list[tuple[int, int, bool]]:
    """Lines grouped into units: a heading line alone, each list item alone, other lines
    joined (hard-wrapped prose)."""
    lines: list[tuple[int, int]] = []
    cursor = start
    while cursor <= end:
        newline = text.find("\n", cursor, end)
        line_end = end if newline < 0 else newline
        lines.append((cursor, line_end))
        cursor = line_end + 1
    units: list[tuple[int, int, bool]] = []
    open_unit: list[int] | None = None  # [start, end] of the prose unit being built
    for index, (ls, le) in enumerate(lines):
        line = text[ls:le]
        if not line.strip():
            continue
        heading = bool(_MARKDOWN_HEADING.match(line) or _TABLE_ROW.search(line))
        if not heading and index == 0 and len(lines) > 1:
            heading = _looks_like_heading(line, text[lines[1][0] : lines[1][1]])
        marker = _LIST_MARKER.match(line)
        if heading or marker:
            if open_unit:
                units.append((open_unit[0], open_unit[1], False))
                open_unit = None
            if heading:
                units.append((*_trim(text, ls, le), True))
                continue
            assert marker is not None
            ls += marker.end()
        if open_unit is None:
            open_unit = [ls, le]
        else:
            open_unit[1] = le
        if marker:  # a list item ends at its line unless the next line continues it
            continues = index + 1 < len(lines) and _continues(text, lines[index + 1])
            if not continues:
                units.append((open_unit[0], open_unit[1], False))
                open_unit = None
    if open_unit:
        units.append((open_unit[0], open_unit[1], False))
    return [(s, e, h) for s, e, h in units if e > s]


def _looks_like_heading(line: str, next_line: str) -> bool:
    words = line.split()
    nxt = next_line.lstrip()
    return (
        0 < len(words) <= 10
        and not _END_PUNCT.search(line.rstrip())
        and (words[0][:1].isupper() or words[0][:1].isdigit())
        and bool(nxt)
        and (nxt[0].isupper() or nxt[0].isdigit())
    )


def _continues(text: str, line: tuple[int, int]) -> bool:
    """A wrapped list item: the next line is indented prose, not a new item or heading."""
    body = text[line[0] : line[1]]
    return (
        body[:1] in (" ", "\t")
        and bool(body.strip())
        and not _LIST_MARKER.match(body)
        and not _MARKDOWN_HEADING.match(body)
    )


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    pieces: list[tuple[int, int]] = []
    cursor = start
    for match in _TERMINATOR.finditer(text, start, end):
        if _is_boundary(text, cursor, match, end):
            s, e = _trim(text, cursor, match.end())
            if e > s:
                pieces.append((s, e))
            cursor = match.end()
    s, e = _trim(text, cursor, end)
    if e > s:
        pieces.append((s, e))
    return pieces


def _is_boundary(text: str, sentence_start: int, match: re.Match[str], end: int) -> bool:
    following = match.end()
    while following < end and text[following].isspace():
        following += 1
    if following >= end:
        return True
    nxt = text[following]
    if nxt.islower() or nxt in ",;:)":
        return False
    if nxt in _OPENING and following + 1 < end and text[following + 1].islower():
        return False
    mark = match.group()
    if not mark.startswith("."):
        return True
    if mark.startswith("...") or mark.startswith("\u2026"):
        return nxt.isupper()
    word_start = match.start()
    while word_start > sentence_start and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start : match.start()].lstrip(_OPENING)
    if word.lower() in ABBREVIATIONS:
        return False
    # an initial ("J. K. Rowling") or a dotted abbreviation ("U.S.A.", "Ph.D.")
    return not ((len(word) == 1 and word.isupper()) or _DOTTED.fullmatch(word))


def is_number(token: str) -> bool:
    return token.replace(".", "").replace(",", "").isdigit()


def normalize(word: str) -> str:
    """A matching key for a word: lower case, no possessive, crude plural stripping (only to
    count "cell" and "cells" as one term; the text shown is always the source's own)."""
    word = word.lower().replace("\u2019", "'")
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "ous")):
        return word[:-1]
    return word


def tokens(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int, str]]:
    """Word tokens (start, end, text) of `text[start:end]`, positions in `text`."""
    return [
        (m.start(), m.end(), m.group())
        for m in TOKEN.finditer(text, start, len(text) if end is None else end)
    ]
