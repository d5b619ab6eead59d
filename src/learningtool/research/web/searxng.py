"""SearXNG: a self-hosted metasearch instance with the json format enabled."""

from __future__ import annotations

from typing import TYPE_CHECKING

from learningtool.research.web.provider import ProviderSearcher
from learningtool.research.web.results import WebResult

if TYPE_CHECKING:
    pass


class SearxngSearcher(ProviderSearcher):
    """A SearXNG instance's JSON API (`GET /search?q=...&format=json`). The instance must
    list `json` in `search.formats` of its settings.yml; it answers 403 otherwise."""

    name = "SearXNG"

    async def _results(self, query: str, k: int) -> list[WebResult]:
        content = await self._call("GET", "/search", params={"q": query, "format": "json"})
        return self._listed(self._json(content)["results"])

    def _status_hint(self, status: int) -> str:
        if status == 403:
            return " (is 'json' listed in search.formats of the instance's settings.yml?)"
        return ""
