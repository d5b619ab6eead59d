"""DuckDuckGo through its HTML endpoint (no key)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from learningtool.research.web.duckduckgo_html import is_challenge, parse_duckduckgo
from learningtool.research.web.provider import ProviderSearcher
from learningtool.research.web.results import WebResult

if TYPE_CHECKING:
    pass


class DuckDuckGoSearcher(ProviderSearcher):
    """DuckDuckGo's HTML endpoint (`POST /html/` with `q`), parsed with lxml. There is no
    API key and no contract: DuckDuckGo may answer a challenge page instead of results when
    it sees too many queries, which is reported as an error rather than "no results"."""

    name = "DuckDuckGo"
    default_base_url = "https://html.duckduckgo.com"

    async def _results(self, query: str, k: int) -> list[WebResult]:
        content = await self._call("POST", "/html/", data={"q": query})
        base = self.base_url + "/html/"
        results = await asyncio.to_thread(parse_duckduckgo, content, base)
        if not results and is_challenge(content):
            raise self._fail(f"{self.label} asked for a challenge instead of results (rate limit)")
        return results

    def _status_hint(self, status: int) -> str:
        if status == 202:
            return " (a challenge page instead of results: too many queries; try again later)"
        return ""
