"""Tavily's search API (an API key is required)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from learningtool.research.web.provider import ProviderSearcher
from learningtool.research.web.results import TAVILY_MAX_RESULTS, WebResult, WebSearchNotConfigured

if TYPE_CHECKING:
    pass


class TavilySearcher(ProviderSearcher):
    """Tavily's search API (`POST /search` with the key, the query and `max_results`)."""

    name = "Tavily"
    default_base_url = "https://api.tavily.com"

    def __init__(self, *, api_key: str, **options: Any) -> None:
        if not api_key:
            raise WebSearchNotConfigured(
                "Tavily needs an API key: set LEARNINGTOOL_WEB_SEARCH_API_KEY"
            )
        super().__init__(**options)
        self._api_key = api_key

    def __repr__(self) -> str:  # never the key
        return f"TavilySearcher(base_url={self.base_url!r})"

    def _secrets(self) -> tuple[str, ...]:
        return (self._api_key,)

    async def _results(self, query: str, k: int) -> list[WebResult]:
        wanted = 2 * k if self.preferred_domains else k
        payload = {
            "api_key": self._api_key,
            "query": query,
            "max_results": min(max(wanted, 1), TAVILY_MAX_RESULTS),
            "search_depth": "basic",
            "include_answer": False,
        }
        content = await self._call("POST", "/search", json=payload)
        return self._listed(self._json(content)["results"])

    def _status_hint(self, status: int) -> str:
        if status in (401, 403):
            return " (the API key was refused)"
        if status == 432:
            return " (the plan's usage limit is reached)"
        return ""
