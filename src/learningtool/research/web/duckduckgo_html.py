"""Reading DuckDuckGo's HTML result page: the result links (unwrapped from its redirect
addresses), titles and snippets, and its bot challenge."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urljoin, urlsplit

from learningtool.research.web.domains import is_web_url
from learningtool.research.web.provider import one_line
from learningtool.research.web.results import WebResult

if TYPE_CHECKING:
    pass


def is_challenge(content: bytes) -> bool:
    return b"anomaly-modal" in content or b"challenge-form" in content


def _has_class(name: str) -> str:
    """An XPath test for one class token (`contains(@class, ...)` would match substrings)."""
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


def parse_duckduckgo(content: bytes, base_url: str) -> list[WebResult]:
    """The organic results of a DuckDuckGo HTML page, in page order (ads left out), with
    their redirect links resolved to the real URL."""
    import lxml.html  # type: ignore[import-untyped]

    if not content.strip():
        return []
    document = lxml.html.document_fromstring(content)
    results = []
    for node in document.xpath(f"//div[{_has_class('result')}]"):
        if "result--ad" in node.get("class", "").split():
            continue
        links = node.xpath(f".//a[{_has_class('result__a')}]")
        url = resolve_duckduckgo_link(links[0].get("href", ""), base_url) if links else None
        if url is None:
            continue
        snippets = node.xpath(f".//*[{_has_class('result__snippet')}]")
        results.append(
            WebResult(
                url=url,
                title=one_line(links[0].text_content()),
                snippet=one_line(snippets[0].text_content()) if snippets else "",
            )
        )
    return results


def resolve_duckduckgo_link(href: str, base_url: str) -> str | None:
    """The real URL behind a result link: DuckDuckGo wraps them as `//duckduckgo.com/l/?uddg=
    <quoted URL>&rut=...`. None for anything that is not an outside http(s) page (its own
    ad and navigation links)."""
    try:
        absolute = urljoin(base_url, href.strip())
        parts = urlsplit(absolute)
        if parts.path.rstrip("/") == "/l":
            targets = parse_qs(parts.query).get("uddg")
            if not targets:
                return None
            absolute = targets[0].strip()
            parts = urlsplit(absolute)
    except ValueError:  # a malformed link (an unclosed IPv6 bracket, say)
        return None
    host = (parts.hostname or "").rstrip(".")
    if not is_web_url(absolute):
        return None
    if host == "duckduckgo.com" or host.endswith(".duckduckgo.com"):
        return None
    return absolute
