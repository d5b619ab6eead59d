"""What a web search gives and how it fails, shared by every provider."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from learningtool.errors import AppError
from learningtool.research.agent.state import Evidence

if TYPE_CHECKING:
    pass


USER_AGENT = "Mozilla/5.0 (compatible; learningtool-research/0.1)"
PAGE_MAX_BYTES = 2 * 1024 * 1024  # a result page bigger than this is left to its snippet
PAGE_MAX_CHARS = 6_000  # evidence text per page: enough to quote, small enough for a prompt
RESPONSE_MAX_BYTES = 5 * 1024 * 1024  # a provider's own answer
TAVILY_MAX_RESULTS = 20  # the API's ceiling for max_results
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"text/plain", "text/markdown"})


class WebSearchError(AppError):
    """A web search provider failed or is not usable; `message` is safe to show and log."""

    status_code = 502
    code = "web_search_failed"


class WebSearchNotConfigured(WebSearchError):
    """The configured provider lacks a setting it needs (a base URL, an API key)."""

    status_code = 503
    code = "web_search_not_configured"


@dataclass(frozen=True, slots=True)
class WebResult:
    """One result as the provider listed it, before any page is fetched."""

    url: str
    title: str
    snippet: str


class WebSearcher(Protocol):
    """What the research service needs: `search` has the shape of `SearchFn`."""

    async def search(self, query: str, k: int) -> list[Evidence]: ...
