"""Result pages fetched as evidence: each through the URL-ingestion address guard, since
result URLs come from the open web. A page that is refused or fails falls back to the
search engine's snippet: a page is a bonus, never a reason for the search to fail."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from learningtool.fetch import AddressGuard, FetchError, FetchLimits, fetch_url
from learningtool.ingestion.document import DEFAULT_LIMITS, clean_text
from learningtool.ingestion.errors import IngestionError
from learningtool.ingestion.sniff import decode_text
from learningtool.ingestion.web import extract_html
from learningtool.research.web.results import (
    HTML_TYPES,
    PAGE_MAX_CHARS,
    TEXT_TYPES,
)

if TYPE_CHECKING:
    pass

log = structlog.get_logger(__name__)


# -- pages --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageFetcher:
    """Fetches the top `count` result pages, at most `concurrency` at a time, through `guard`,
    and gives their main text (at most `max_chars`), or None to fall back to the snippet."""

    limits: FetchLimits
    guard: AddressGuard
    count: int = 3
    max_chars: int = PAGE_MAX_CHARS
    concurrency: int = 3

    async def texts(self, urls: Sequence[str]) -> list[str | None]:
        """The text of each of the first `count` URLs (None where not fetched); never raises
        for a page, so one bad page cannot sink the search."""
        wanted = list(urls[: max(self.count, 0)])
        if not wanted:
            return []
        gate = asyncio.Semaphore(max(self.concurrency, 1))

        async def one(url: str) -> str | None:
            async with gate:
                try:
                    return await self.text(url)
                except Exception:  # a page is optional: an unforeseen failure costs only it
                    log.warning("web_page_failed", url=url, exc_info=True)
                    return None

        return list(await asyncio.gather(*(one(url) for url in wanted)))

    async def text(self, url: str) -> str | None:
        try:
            document = await fetch_url(url, limits=self.limits, guard=self.guard)
        except FetchError as error:
            log.info("web_page_skipped", url=url, code=error.code, reason=error.message)
            return None
        # Parsing a page of up to `limits.max_bytes` with lxml can take tens of milliseconds:
        # a thread keeps that off the loop.
        return await asyncio.to_thread(
            page_text, document.content, document.content_type, self.max_chars
        )


def page_text(
    content: bytes, content_type: str | None, max_chars: int = PAGE_MAX_CHARS
) -> str | None:
    """The main text of an HTML or plain-text page, cut to `max_chars`; None for any other
    type, or when nothing readable is left (the caller then uses the snippet)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if not media and content.lstrip()[:1] == b"<":
        media = "text/html"
    try:
        if media in HTML_TYPES:
            text = extract_html(content, DEFAULT_LIMITS).text
        elif media in TEXT_TYPES:
            text = clean_text(decode_text(content) or "")
        else:
            return None
    except IngestionError:
        return None
    return truncate(text, max_chars) or None


def truncate(text: str, max_chars: int) -> str:
    """`text` cut to at most `max_chars`, at a word boundary when one is near, marked with
    an ellipsis so a reader (or a model) knows the page goes on."""
    if len(text) <= max_chars:
        return text
    cut = text[: max(max_chars - 1, 0)]
    space = cut.rfind(" ")
    if space > 0 and space > len(cut) - 200:
        cut = cut[:space]
    return cut.rstrip() + "…"
