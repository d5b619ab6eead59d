"""Web search for the deep-research agent: SearXNG, Tavily and DuckDuckGo, as `SearchFn`s.

    searcher = create_web_searcher(settings, preferred_domains=["docs.python.org"])
    context = ResearchContext(search_notebook=..., search_web=searcher.search if searcher else None)

Each searcher's `search(query, k)` asks its provider, puts results from the preferred domains
first, keeps at most `k`, fetches the top few pages and returns `Evidence` built with
`web_evidence` (rank 1 = first). Two kinds of address are treated differently on purpose:

* the provider's own endpoint is chosen by the operator (SearXNG often runs on localhost), so
  it is trusted and called directly, never through the address guard;
* the result URLs come from the open web, so each page is fetched with
  `learningtool.fetch.fetch_url` and the same `AddressGuard` URL ingestion uses. A page
  that is refused or fails (private address, too large, timeout, not HTML or text) falls back
  to the search engine's snippet: a page is a bonus, never a reason for the search to fail.

A provider failure (HTTP error, timeout, unreadable answer) raises `WebSearchError` with a
message that names the provider and the reason in words, never the API key or a stack trace;
the research node records it and goes on with the notebook.

Nothing here keeps a client between calls: each search opens its own `httpx.AsyncClient` on
the running loop, so one searcher can serve runs on different event loops (`langgraph dev`).

Modules: `results` (what a search gives, its errors), `provider` (what every provider shares),
one module per provider (`searxng`, `tavily`, `duckduckgo`, with `duckduckgo_html` its page
parser), `pages` (result pages through the address guard), `domains` (preferred domains
first), `factory` (from settings).
"""

from learningtool.research.web.domains import in_domain, normalise_domain, prefer_domains
from learningtool.research.web.duckduckgo import DuckDuckGoSearcher
from learningtool.research.web.duckduckgo_html import parse_duckduckgo, resolve_duckduckgo_link
from learningtool.research.web.factory import create_web_searcher, page_fetcher
from learningtool.research.web.pages import PageFetcher, page_text, truncate
from learningtool.research.web.provider import ProviderSearcher
from learningtool.research.web.results import (
    WebResult,
    WebSearcher,
    WebSearchError,
    WebSearchNotConfigured,
)
from learningtool.research.web.searxng import SearxngSearcher
from learningtool.research.web.tavily import TavilySearcher

__all__ = [
    "DuckDuckGoSearcher",
    "PageFetcher",
    "ProviderSearcher",
    "SearxngSearcher",
    "TavilySearcher",
    "WebResult",
    "WebSearchError",
    "WebSearchNotConfigured",
    "WebSearcher",
    "create_web_searcher",
    "in_domain",
    "normalise_domain",
    "page_fetcher",
    "page_text",
    "parse_duckduckgo",
    "prefer_domains",
    "resolve_duckduckgo_link",
    "truncate",
]
