"""Text formats: HTML (main content only), Markdown and plain text.

HTML: lxml (already required by python-docx) plus a small, predictable walker instead of
trafilatura: trafilatura pulls about ten more packages (date parsing, URL tools) for a
scoring heuristic tuned to news pages, while what we need is deterministic: drop what is
never content (script, style, nav, header/footer outside the article, aside, forms, hidden
elements, link-only menus), prefer `<main>` or a single `<article>`, and keep headings as
`#` lines so heading paths work like in DOCX and Markdown.

Markdown: markdown-it-py (CommonMark) finds the top-level blocks and headings, so a `#`
inside a code fence is not a heading; each block is the source lines it spans, and
headings are re-emitted in ATX form (setext `===` underlines become `#`). YAML front
matter is metadata, not text, and is dropped.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

from learningtool.ingestion.document import (
    Extracted,
    HeadingStack,
    Kind,
    Limits,
    TextBuilder,
    one_line,
    reading,
)
from learningtool.ingestion.errors import ExtractionError
from learningtool.ingestion.sniff import decode_text

_NEVER_CONTENT = {
    "script", "style", "noscript", "template", "nav", "aside", "form", "button", "select",
    "textarea", "svg", "canvas", "iframe", "object", "embed", "dialog", "menu", "head",
}  # fmt: skip
_PAGE_CHROME = {"header", "footer"}
_CHROME_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu",
                 "menubar", "dialog"}  # fmt: skip
_BLOCKS = {
    "p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "blockquote",
    "pre", "table", "tr", "figure", "figcaption", "address", "hr", "details", "summary",
    "header", "footer", "body", "thead", "tbody", "tfoot", "caption",
}  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)


def _decode_html(data: bytes) -> str:
    """BOM, then a `<meta charset>` in the first 4 KB, then UTF-8, then Windows-1252 (what
    browsers assume for an unlabelled page that is not UTF-8)."""
    text = (
        decode_text(data) if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) else None
    )
    if text is not None:
        return text
    match = _META_CHARSET.search(data[:4096])
    if match:
        try:
            name = codecs.lookup(match.group(1).decode("ascii")).name
        except LookupError:
            name = "utf-8"
        if name in ("latin-1", "iso8859-1", "ascii"):
            name = "cp1252"
        return data.decode(name, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def extract_html(data: bytes, limits: Limits) -> Extracted:
    import lxml.html  # type: ignore[import-untyped]
    from lxml import etree

    with reading("This web page"):
        markup = re.sub(r"^\s*<\?xml[^>]*\?>", "", _decode_html(data))
        if not markup.strip():
            raise ExtractionError("This web page is empty.")
        document = lxml.html.document_fromstring(markup)
        title = document.findtext(".//title")
        etree.strip_elements(document, etree.Comment, etree.ProcessingInstruction, with_tail=False)
        root = _content_root(document)
        _drop_chrome(root, keep_page_chrome=root.tag in ("main", "article"))
        builder = TextBuilder(limits)
        walker = _Walker(builder)
        walker.walk(root, 0)
        walker.flush()
    return builder.build(Kind.HTML, title=title)


def _content_root(document: Any) -> Any:
    for path in (".//main", ".//*[@role='main']"):
        found = document.find(path)
        if found is not None:
            return found
    articles = document.findall(".//article")
    if len(articles) == 1:
        return articles[0]
    body = document.find(".//body")
    return body if body is not None else document


def _drop_chrome(root: Any, *, keep_page_chrome: bool) -> None:
    doomed = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        if (
            tag in _NEVER_CONTENT
            or (tag in _PAGE_CHROME and not keep_page_chrome)
            or element.get("role", "").lower() in _CHROME_ROLES
            or element.get("hidden") is not None
            or element.get("aria-hidden", "").lower() == "true"
            or (tag in ("ul", "ol") and _is_link_menu(element))
        ):
            doomed.append(element)
    for element in doomed:
        parent = element.getparent()
        if parent is not None:
            element.drop_tree()  # keeps the tail text, which belongs to the parent


def _is_link_menu(element: Any) -> bool:
    """A list that is nearly all short links is a menu, even outside `<nav>`."""
    items = element.findall("li")
    text = " ".join(element.text_content().split())
    linked = sum(len(" ".join(a.text_content().split())) for a in element.iter("a"))
    return bool(items) and linked >= 0.8 * max(len(text), 1) and len(text) / len(items) < 40


def _inline(text: str) -> str:
    """HTML collapses runs of white space (newlines included) in flowing text."""
    return re.sub(r"\s+", " ", text)


class _Walker:
    """Depth-first walk that collects inline text and emits a block at each block boundary."""

    def __init__(self, builder: TextBuilder) -> None:
        self.builder = builder
        self.stack = HeadingStack()
        self.buffer: list[str] = []

    def flush(self) -> None:
        text = re.sub(r"[ \t]+", " ", "".join(self.buffer))
        text = "\n".join(line.strip() for line in text.split("\n"))
        self.buffer = []
        self.builder.add(text, heading_path=self.stack.path)

    def walk(self, element: Any, depth: int) -> None:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if depth > 200:
            return
        if tag in _HEADINGS:
            self.flush()
            self.builder.heading(_HEADINGS[tag], element.text_content(), self.stack)
            return
        if tag == "pre":
            self.flush()
            self.builder.add(element.text_content(), heading_path=self.stack.path)
            return
        if tag == "br":
            self.buffer.append("\n")
        block = tag in _BLOCKS
        if block:
            self.flush()
            if tag == "li":
                self.buffer.append("- ")
        if tag in ("td", "th") and self.buffer and "".join(self.buffer).strip():
            self.buffer.append(" | ")
        if element.text and tag != "br":
            self.buffer.append(_inline(element.text))
        for child in element:
            self.walk(child, depth + 1)
            if child.tail:
                self.buffer.append(_inline(child.tail))
        if block:
            self.flush()


def extract_markdown(data: bytes, limits: Limits) -> Extracted:
    from markdown_it import MarkdownIt

    text = _text_or_fail(data)
    text = _FRONT_MATTER.sub("", text.replace("\r\n", "\n").replace("\r", "\n"), count=1)
    lines = text.split("\n")
    builder = TextBuilder(limits)
    stack = HeadingStack()
    first_heading: str | None = None
    with reading("This Markdown file"):
        tokens = MarkdownIt("commonmark").enable("table").parse(text)
        for index, token in enumerate(tokens):
            if token.level != 0 or token.nesting == -1 or token.map is None:
                continue
            if token.type == "heading_open":
                content = tokens[index + 1].content if index + 1 < len(tokens) else ""
                builder.heading(int(token.tag[1:]), content, stack)
                first_heading = first_heading or one_line(content)
            elif token.type != "hr":
                start, end = token.map
                builder.add("\n".join(lines[start:end]), heading_path=stack.path)
    return builder.build(Kind.MARKDOWN, title=first_heading)


def extract_text(data: bytes, limits: Limits) -> Extracted:
    """Paragraphs are separated by blank lines; line breaks inside a paragraph are kept."""
    builder = TextBuilder(limits)
    for paragraph in re.split(r"\n[ \t]*\n", _text_or_fail(data).replace("\r\n", "\n")):
        builder.add(paragraph)
    return builder.build(Kind.TEXT)


def _text_or_fail(data: bytes) -> str:
    text = decode_text(data)
    if text is None:
        raise ExtractionError("This file is not UTF-8 text and could not be read.")
    return text
