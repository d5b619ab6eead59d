"""The searcher and page fetcher the settings ask for."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from learningtool.fetch import AddressGuard, FetchLimits
from learningtool.research.web.duckduckgo import DuckDuckGoSearcher
from learningtool.research.web.pages import PageFetcher
from learningtool.research.web.results import PAGE_MAX_BYTES, WebSearcher
from learningtool.research.web.searxng import SearxngSearcher
from learningtool.research.web.tavily import TavilySearcher

if TYPE_CHECKING:
    from learningtool.config import Settings


# -- from settings ------------------------------------------------------------------------------


def page_fetcher(settings: Settings) -> PageFetcher | None:
    """The page fetcher the settings ask for (None when `web_search_fetch_pages` is 0): the
    URL-ingestion guard, with tighter caps, since a research run waits for these pages."""
    if settings.web_search_fetch_pages <= 0:
        return None
    seconds = min(settings.fetch_timeout_seconds, settings.web_search_timeout_seconds)
    limits = FetchLimits(
        max_bytes=min(settings.fetch_max_bytes, PAGE_MAX_BYTES),
        total_seconds=seconds,
        connect_seconds=min(5.0, seconds),
        read_seconds=min(10.0, seconds),
        max_redirects=settings.fetch_max_redirects,
    )
    guard = AddressGuard(allow_loopback=settings.fetch_allow_loopback)
    return PageFetcher(limits=limits, guard=guard, count=settings.web_search_fetch_pages)


def create_web_searcher(
    settings: Settings, preferred_domains: Iterable[str] = ()
) -> WebSearcher | None:
    """The configured searcher, or None when `web_search_provider` is "none" (the default:
    nothing reaches the web unless the operator says so). `WebSearchNotConfigured` when the
    provider lacks its base URL or key."""
    options: dict[str, Any] = {
        "base_url": settings.web_search_base_url,
        "timeout_seconds": settings.web_search_timeout_seconds,
        "preferred_domains": list(preferred_domains),
        "pages": page_fetcher(settings),
    }
    match settings.web_search_provider:
        case "searxng":
            return SearxngSearcher(**options)
        case "tavily":
            key = settings.web_search_api_key
            return TavilySearcher(api_key=key.get_secret_value() if key else "", **options)
        case "duckduckgo":
            return DuckDuckGoSearcher(**options)
        case _:
            return None
