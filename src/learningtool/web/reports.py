"""A research report as HTML: the Markdown-like text a run writes (headings, paragraphs,
lists, bold, italic, code, links, `[n]` citation markers), rendered safely.

Nothing of the report reaches the page unescaped: a line is cut into tokens of the raw text
(a marker, a link, emphasis), every piece of text is escaped on its own, and only the tags
made here are added. A report is data (a model wrote it from web pages and documents), so a
`<script>` in it shows as text, and a link is kept only when it goes to http(s).

Each `[n]` becomes a link to what citation n cites: a notebook passage opens the passage page
with the very sentence the report relied on highlighted (of the citation's `quotes`, the one
closest to the citing sentence), a web citation opens the page (rel="noopener noreferrer")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape

from learningtool.research.agent.context import terms
from learningtool.research.agent.report import MARKER, numbers_in

LINK = r"(?<!\\)\[(?P<label>(?:\\.|[^\]\\])*)\]\((?P<url>[^)\s]+)\)"
INLINE = re.compile(
    "|".join(
        [
            LINK,
            f"(?P<marker>{MARKER.pattern})",
            r"\*\*(?P<bold>.+?)\*\*",
            r"(?<![\w*])\*(?P<italic>[^*\s](?:[^*]*[^*\s])?)\*(?![\w*])",
            r"`(?P<code>[^`]+)`",
            r"\\(?P<escaped>[\\\[\]*_`#])",
        ]
    )
)
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
NUMBERED = re.compile(r"^\s*\d{1,4}[.)]\s+(.*)$")
SENTENCE_START = re.compile(r"(?<=[.!?])\s+")


class Citations:
    """Where each citation number of a run's report leads, and how it is labelled."""

    def __init__(self, notebook_id: str, citations: list[Mapping[str, Any]]) -> None:
        self.notebook_id = notebook_id
        self.by_number = {int(c["n"]): c for c in citations if isinstance(c.get("n"), int)}

    def link(self, number: int, citing: str) -> Markup | None:
        """`[n]` as a link, or None when the report names no such citation."""
        cited = self.by_number.get(number)
        if cited is None:
            return None
        title = str(cited.get("source_title") or cited.get("title") or "a source")
        if cited.get("kind") == "web":
            url = str(cited.get("url") or "")
            if not _is_web(url):
                return None
            return Markup(
                '<a class="cite web" href="{}" rel="noopener noreferrer" '
                'aria-label="Citation {}: {} (web page)" title="{}">[{}]</a>'
            ).format(url, number, title, url, number)
        if not cited.get("source_id"):
            return None
        start, end = self.span(cited, citing)
        query = urlencode({"start": start, "end": end})
        href = f"/notebooks/{self.notebook_id}/sources/{cited.get('source_id', '')}/passage?{query}"
        return Markup(
            '<a class="cite" href="{}" aria-label="Citation {}: {}" title="{}">[{}]</a>'
        ).format(href, number, title, title, number)

    @staticmethod
    def span(cited: Mapping[str, Any], citing: str) -> tuple[int, int]:
        """The span to highlight: of the citation's quotes, the one sharing most words with
        the citing sentence (the first on a tie); else its quote, else its whole passage."""
        wanted = set(terms(citing))
        best: tuple[int, int] | None = None
        best_shared = -1
        for quote in cited.get("quotes") or []:
            shared = len(wanted & set(terms(str(quote.get("text", "")))))
            if shared > best_shared:
                best, best_shared = (int(quote["start_char"]), int(quote["end_char"])), shared
        if best is not None:
            return best
        if cited.get("quote_start_char") is not None and cited.get("quote_end_char") is not None:
            return int(cited["quote_start_char"]), int(cited["quote_end_char"])
        return int(cited.get("start_char") or 0), int(cited.get("end_char") or 0)


def _is_web(url: str) -> bool:
    return url.startswith(("https://", "http://"))


def inline(text: str, citations: Citations) -> Markup:
    """One line (or a paragraph's lines) of the report, escaped, with its marks as tags."""
    out: list[str] = []
    at = 0
    for match in INLINE.finditer(text):
        out.append(escape(text[at : match.start()]))
        out.append(_token(match, text, citations))
        at = match.end()
    out.append(escape(text[at:]))
    return Markup("").join(out)


def _token(match: re.Match[str], text: str, citations: Citations) -> Markup:
    if match.group("url") is not None:
        label = inline(match.group("label"), citations)
        url = match.group("url")
        if not _is_web(url):
            return Markup("{} ({})").format(label, url)
        return Markup('<a href="{}" rel="noopener noreferrer">{}</a>').format(url, label)
    if match.group("marker") is not None:
        return _markers(match, text, citations)
    for name, tag in (("bold", "strong"), ("italic", "em")):
        if match.group(name) is not None:
            inner = inline(match.group(name), citations)
            return Markup("<{0}>{1}</{0}>").format(Markup(tag), inner)
    if match.group("code") is not None:
        return Markup("<code>{}</code>").format(match.group("code"))
    return escape(match.group("escaped"))


def _markers(match: re.Match[str], text: str, citations: Citations) -> Markup:
    """`[1, 3]` as `[1][3]`, each a link; a number with no citation stays plain text."""
    citing = _citing_sentence(text, match.start())
    parts = []
    for number in numbers_in(match.group("marker")[1:-1]):
        link = citations.link(number, citing)
        parts.append(link if link is not None else escape(f"[{number}]"))
    return Markup("").join(parts)


def _citing_sentence(text: str, position: int) -> str:
    """The sentence a marker at `position` closes (its words choose the quote to show)."""
    before = MARKER.sub("", text[:position]).rstrip()
    pieces = SENTENCE_START.split(before.rstrip(".!?"))
    return pieces[-1] if pieces else before


def render_report(report: str, citations: Citations, *, skip_title: str = "") -> Markup:
    """The report as HTML blocks. Its headings go one level down (the page's own `h1` is the
    question), and a first heading that only repeats `skip_title` is left out."""
    blocks: list[Markup] = []
    paragraph: list[str] = []
    items: list[str] = []
    list_tag = "ul"

    def flush() -> None:
        nonlocal paragraph, items
        if paragraph:
            text = " ".join(line.strip() for line in paragraph)
            blocks.append(Markup("<p>{}</p>").format(inline(text, citations)))
            paragraph = []
        if items:
            body = Markup("").join(
                Markup("<li>{}</li>").format(inline(i, citations)) for i in items
            )
            blocks.append(Markup("<{0}>{1}</{0}>").format(Markup(list_tag), body))
            items = []

    for line in report.splitlines():
        heading = HEADING.match(line)
        bullet = BULLET.match(line) or NUMBERED.match(line)
        if not line.strip() or heading:
            flush()
        if heading:
            title = heading.group(2).strip()
            if not blocks and _same(title, skip_title):
                continue
            level = Markup(min(len(heading.group(1)) + 1, 6))
            blocks.append(Markup("<h{0}>{1}</h{0}>").format(level, inline(title, citations)))
        elif bullet:
            tag = "ul" if BULLET.match(line) else "ol"
            if paragraph or (items and tag != list_tag):
                flush()
            list_tag = tag
            items.append(bullet.group(1))
        elif line.strip():
            if items:
                items[-1] += " " + line.strip()
            else:
                paragraph.append(line)
    flush()
    return Markup("\n").join(blocks)


def _same(title: str, other: str) -> bool:
    def plain(text: str) -> str:
        return " ".join(text.replace("\\", "").lower().split()).rstrip("?.! ")

    return bool(other) and plain(title) == plain(other)
