"""Citations of a research report: every `[n]` in the final Markdown maps to one entry.

    finalize(body, numbered)     -> FinalReport  (markers renumbered, unknown ones dropped,
                                                 a "Sources" section appended)
    unmapped(markdown, citations) -> list[int]   (the check: [] when every [n] maps)

A writer (the model, or the offline engine) cites the evidence it was shown by number.
`finalize` keeps the markers that name shown evidence, renumbers them 1..m in order of first
appearance, drops the others (and says so in `dropped`), and builds one `Citation` per
number: a passage (chunk, source, span, page) or a web page (URL, title), with the sentence of
that source closest to the citing sentence as `quote` (and, for a passage cited by several
sentences, each one's closest sentence in `quotes`). For a passage the quote's own span is
given too (`quote_start_char`/`quote_end_char`, source coordinates: a chunk is an exact slice
of its source, so an offset in the chunk's text plus its `start_char` is one in the source).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from learningtool.research.agent.context import terms
from learningtool.research.agent.state import Citation, Evidence
from learningtool.text.boilerplate import sentence_reason
from learningtool.text.sentences import split_sentences

# `[3]`, `[1, 2]`, `[1; 4]`, `[2-4]`; not a link `[1](...)`, not an escaped `\[1]`.
MARKER = re.compile(r"(?<!\\)\[(\d{1,4}(?:\s*[,;\u2013-]\s*\d{1,4})*)\](?!\()")
_SOURCES_HEADING = re.compile(
    r"^[ \t]*#{1,6}[ \t]*(?:sources|references|bibliography|citations|works cited)\b.*$",
    re.IGNORECASE | re.MULTILINE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n")
_TRAILING_MARKER = re.compile(r"(?<!\\)\[[\d,;\s\u2013-]+\]$")
MAX_QUOTE_CHARS = 400
MIN_PROSE_WORDS = 4  # "YouTube." from a reference list is no quote
MAX_RANGE = 20
SOURCES_TITLE = "## Sources"


@dataclass
class FinalReport:
    markdown: str  # body + Sources section
    citations: list[Citation]
    dropped: list[int] = field(default_factory=list)  # markers that named no shown source


def numbers_in(marker_body: str) -> list[int]:
    """The numbers a marker names: "1, 3" -> [1, 3]; "2-4" -> [2, 3, 4] (short ranges)."""
    found: list[int] = []
    for part in re.split(r"\s*[,;]\s*", marker_body):
        bounds = re.split(r"\s*[\u2013-]\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            low, high = int(bounds[0]), int(bounds[1])
            if low <= high and high - low <= MAX_RANGE:
                found.extend(range(low, high + 1))
                continue
        found.extend(int(b) for b in bounds if b.isdigit())
    return list(dict.fromkeys(found))


def strip_sources_section(markdown: str) -> str:
    """Drop a sources/references list the writer added itself (ours replaces it)."""
    match = _SOURCES_HEADING.search(markdown)
    if match and markdown[: match.start()].strip():
        return markdown[: match.start()].rstrip()
    return markdown.rstrip()


def finalize(body: str, numbered: dict[int, Evidence]) -> FinalReport:
    """Renumber the markers of `body` that name keys of `numbered`, drop the rest, and append
    the Sources section; see the module docstring."""
    body = strip_sources_section(body)
    renumber: dict[int, int] = {}
    context: dict[int, list[str]] = {}
    dropped: list[int] = []

    def replace(match: re.Match[str]) -> str:
        kept = []
        for number in numbers_in(match.group(1)):
            if number not in numbered:
                if number not in dropped:
                    dropped.append(number)
                continue
            if number not in renumber:
                renumber[number] = len(renumber) + 1
            context.setdefault(number, []).append(_citing_sentence(body, match.start()))
            kept.append(renumber[number])
        return "".join(f"[{n}]" for n in dict.fromkeys(kept))

    text = MARKER.sub(replace, body)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()
    citations = [
        citation(new, numbered[old], near=context[old])
        for old, new in sorted(renumber.items(), key=lambda item: item[1])
    ]
    markdown = text
    if citations:
        markdown = f"{text}\n\n{render_sources(citations)}"
    return FinalReport(markdown=markdown + "\n", citations=citations, dropped=dropped)


def _citing_sentence(body: str, position: int) -> str:
    """The sentence (or line) a marker at `position` closes: "It fixes carbon. [2]" cites
    "It fixes carbon.", so the search for its start skips the sentence's own final stop
    (and markers just before this one: "... carbon. [1][2]")."""
    before = body[:position].rstrip()
    while (found := _TRAILING_MARKER.search(before)) is not None:
        before = before[: found.start()].rstrip()
    start = 0
    for match in _SENTENCE_END.finditer(before, 0, max(0, len(before) - 1)):
        start = match.end()
    return before[start:]


def citation(n: int, evidence: Evidence, *, near: str | list[str] = "") -> Citation:
    """The citation `[n]` for `evidence`, quoting its sentence closest to each citing
    sentence in `near` (`quote` the first; `quotes` all, distinct, for passages)."""
    citing = [near] if isinstance(near, str) else near or [""]
    found = [best_quote(evidence["text"], sentence) for sentence in citing]
    quote, offset = found[0]
    if evidence["kind"] == "web":
        return Citation(
            n=n,
            kind="web",
            title=evidence["title"] or evidence["url"] or "",
            quote=quote or (evidence["snippet"] or ""),
            url=evidence["url"] or "",
        )
    start = evidence["start_char"] or 0
    result = Citation(
        n=n,
        kind="passage",
        title=evidence["title"],
        quote=quote,
        chunk_id=evidence["chunk_id"] or "",
        source_id=evidence["source_id"] or "",
        source_title=evidence["title"],
        start_char=start,
        end_char=evidence["end_char"] if evidence["end_char"] is not None else start,
        page=evidence["page"],
    )
    if quote and offset is not None:
        result["quote_start_char"] = start + offset
        result["quote_end_char"] = start + offset + len(quote)
    used: dict[tuple[int, int], str] = {}  # in the order the report uses them
    for text, at in found:
        if text and at is not None:
            used.setdefault((start + at, start + at + len(text)), text)
    result["quotes"] = [
        {"text": text, "start_char": begin, "end_char": end} for (begin, end), text in used.items()
    ]
    return result


def best_quote(text: str, near: str) -> tuple[str, int | None]:
    """The sentence of `text` sharing most content words with `near`, verbatim, cut at
    `MAX_QUOTE_CHARS`; with its offset. On a tie, or when `near` says nothing, the first
    sentence that is prose: a reference-list entry or a URL ("YouTube.") is quoted only
    when it is what the report's sentence used."""
    wanted = set(terms(near))
    best: tuple[float, int, int] | None = None
    for sentence in split_sentences(text):
        if sentence.heading or sentence.end - sentence.start < 2:
            continue
        piece = text[sentence.start : sentence.end]
        prose = len(piece.split()) >= MIN_PROSE_WORDS and sentence_reason(piece) is None
        shared = len(wanted & set(terms(piece))) + (0.5 if prose else 0.0)
        if best is None or shared > best[0]:
            best = (shared, sentence.start, sentence.end)
    if best is None:
        piece = text.strip()
        if not piece:
            return "", None
        best = (0, text.index(piece), text.index(piece) + len(piece))
    _, start, end = best
    end = min(end, start + MAX_QUOTE_CHARS)
    return text[start:end], start


def render_sources(citations: list[Citation]) -> str:
    lines = [SOURCES_TITLE, ""]
    for item in citations:
        quote = " ".join(item["quote"].split())
        if item["kind"] == "web":
            head = f"[{_escape(item['title'])}]({item.get('url', '')})"
        else:
            head = f"**{_escape(item['title'] or 'Untitled source')}**"
            if item.get("page") is not None:
                head += f", p. {item['page']}"
        lines.append(
            f"- [{item['n']}] {head}" + (f": \u201c{_escape(quote)}\u201d" if quote else "")
        )
    return "\n".join(lines)


def _escape(text: str) -> str:
    """Brackets in titles and quotes must not read as citation markers or links."""
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def unmapped(markdown: str, citations: list[Citation]) -> list[int]:
    """Every number cited in `markdown` with no entry in `citations` (empty: all map)."""
    known = {item["n"] for item in citations}
    missing: list[int] = []
    for match in MARKER.finditer(markdown):
        for number in numbers_in(match.group(1)):
            if number not in known and number not in missing:
                missing.append(number)
    return missing


def check_report(markdown: str, citations: list[Citation]) -> None:
    """Raise `ValueError` unless every [n] maps to a citation and every citation is whole
    (a passage has its chunk, source and span; a web citation its URL)."""
    missing = unmapped(markdown, citations)
    if missing:
        raise ValueError(f"markers with no citation: {missing}")
    numbers = [item["n"] for item in citations]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError(f"citations are not numbered 1..{len(numbers)}: {numbers}")
    for item in citations:
        if item["kind"] == "passage":
            if not (item.get("chunk_id") and item.get("source_id")):
                raise ValueError(f"citation [{item['n']}] has no chunk or source")
            if item.get("start_char") is None or item.get("end_char") is None:
                raise ValueError(f"citation [{item['n']}] has no span")
        elif not item.get("url"):
            raise ValueError(f"citation [{item['n']}] has no URL")
