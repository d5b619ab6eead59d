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
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import structlog

from learningtool.errors import AppError
from learningtool.fetch import AddressGuard, FetchError, FetchLimits, fetch_url
from learningtool.ingestion.document import DEFAULT_LIMITS, clean_text
from learningtool.ingestion.errors import IngestionError
from learningtool.ingestion.sniff import decode_text
from learningtool.ingestion.web import extract_html
from learningtool.research.agent.context import web_evidence
from learningtool.research.agent.state import Evidence

if TYPE_CHECKING:
    from learningtool.config import Settings

log = structlog.get_logger(__name__)

USER_AGENT = "Mozilla/5.0 (compatible; learningtool-research/0.1)"
PAGE_MAX_BYTES = 2 * 1024 * 1024  # a result page bigger than this is left to its snippet
PAGE_MAX_CHARS = 6_000  # evidence text per page: enough to quote, small enough for a prompt
RESPONSE_MAX_BYTES = 5 * 1024 * 1024  # a provider's own answer
TAVILY_MAX_RESULTS = 20  # the API's ceiling for max_results
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TEXT_TYPES = frozenset({"text/plain", "text/markdown"})


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
        if media in _HTML_TYPES:
            text = extract_html(content, DEFAULT_LIMITS).text
        elif media in _TEXT_TYPES:
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


# -- preferred domains --------------------------------------------------------------------------


def normalise_domain(domain: str) -> str:
    """`Docs.Python.org`, `*.python.org`, `https://python.org/x` -> a bare lower-case host."""
    domain = domain.strip().lower()
    if "://" in domain:
        domain = urlsplit(domain).hostname or ""
    return domain.lstrip("*.").rstrip(".").split("/")[0]


def in_domain(url: str, domains: Iterable[str]) -> bool:
    """Whether `url`'s host is one of `domains` or a subdomain of one."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    return any(host == d or host.endswith("." + d) for d in domains if d)


def prefer_domains(results: Sequence[WebResult], domains: Sequence[str]) -> list[WebResult]:
    """Results from `domains` first, each group in the provider's order (a stable sort)."""
    if not domains:
        return list(results)
    return sorted(results, key=lambda result: not in_domain(result.url, domains))


def _unique(results: Iterable[WebResult]) -> list[WebResult]:
    """http(s) results with a host, each URL once (its first, best, position)."""
    seen: set[str] = set()
    kept = []
    for result in results:
        if _is_web_url(result.url) and result.url not in seen:
            seen.add(result.url)
            kept.append(result)
    return kept


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# -- providers ----------------------------------------------------------------------------------


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context(trust_env=False)  # reads the CA bundle: call off the loop


class ProviderSearcher(ABC):
    """A provider's search, and what every provider shares: ordering, `k`, pages, errors.

    Preferred domains are a constructor argument, not a `search` parameter, so that
    `search` keeps the `SearchFn` signature the agent calls. They only reorder: results from
    those domains move first (stable) and the rest keep their place; none is dropped, since a
    filter would leave a question the preferred sites do not answer with nothing. SearXNG and
    DuckDuckGo return a fixed page of results, so their request is the same either way;
    Tavily returns exactly `max_results`, so it is asked for more than `k` when domains are
    preferred, to give preferred results below the first `k` a chance to move up."""

    name: ClassVar[str]
    default_base_url: ClassVar[str | None] = None

    def __init__(
        self,
        *,
        base_url: str | None = None,
        timeout_seconds: float = 15.0,
        preferred_domains: Iterable[str] = (),
        pages: PageFetcher | None = None,
    ) -> None:
        base = (base_url or self.default_base_url or "").strip()
        if not base:
            raise WebSearchNotConfigured(
                f"{self.name} needs a base URL: set LEARNINGTOOL_WEB_SEARCH_BASE_URL"
            )
        if not _is_web_url(base):
            raise WebSearchNotConfigured(
                f"the {self.name} base URL must be an http(s) URL with a host, such as "
                "http://127.0.0.1:8888 (LEARNINGTOOL_WEB_SEARCH_BASE_URL)"
            )
        self.base_url = base.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.preferred_domains = [d for d in map(normalise_domain, preferred_domains) if d]
        self.pages = pages

    async def search(self, query: str, k: int) -> list[Evidence]:
        """At most `k` pieces of evidence for `query`, best first (see the class docstring)."""
        if k <= 0 or not query.strip():
            return []
        found = _unique(await self._results(query.strip(), k))
        chosen = prefer_domains(found, self.preferred_domains)[:k]
        texts = await self.pages.texts([r.url for r in chosen]) if self.pages else []
        texts += [None] * (len(chosen) - len(texts))
        return [
            web_evidence(
                result.url,
                result.title or result.url,
                text or result.snippet or result.title,
                snippet=result.snippet,
                rank=rank,
            )
            for rank, (result, text) in enumerate(zip(chosen, texts, strict=True), start=1)
        ]

    @abstractmethod
    async def _results(self, query: str, k: int) -> list[WebResult]:
        """The provider's results for `query`, in its order (`k` is what the caller wants)."""

    # -- HTTP, shared -------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """The provider and where it is, for messages: scheme, host and port only (a base
        URL may carry credentials)."""
        parts = urlsplit(self.base_url)
        port = f":{parts.port}" if parts.port else ""
        return f"{self.name} at {parts.scheme}://{parts.hostname or ''}{port}"

    def _secrets(self) -> tuple[str, ...]:
        return ()

    def _fail(self, message: str) -> WebSearchError:
        """A `WebSearchError` whose message cannot carry a secret, whatever went into it."""
        for secret in self._secrets():
            if secret:
                message = message.replace(secret, "***")
        return WebSearchError(message, details={"provider": self.name})

    async def _call(self, method: str, path: str, **request: Any) -> bytes:
        """One request to the provider under one deadline, and its body (at most
        `RESPONSE_MAX_BYTES`). Any failure is a WebSearchError."""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                return await self._send(method, self.base_url + path, **request)
        except (TimeoutError, httpx.TimeoutException):
            raise self._fail(
                f"{self.label} did not answer within {self.timeout_seconds:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise self._fail(f"{self.label} could not be reached ({type(exc).__name__})") from None

    async def _send(self, method: str, url: str, **request: Any) -> bytes:
        verify = await asyncio.to_thread(_ssl_context)
        timeout = httpx.Timeout(self.timeout_seconds, connect=min(self.timeout_seconds, 10.0))
        async with (
            httpx.AsyncClient(
                verify=verify,
                timeout=timeout,
                trust_env=False,
                follow_redirects=False,  # a redirect could carry the key elsewhere
                headers={"User-Agent": USER_AGENT},
            ) as client,
            client.stream(method, url, **request) as response,
        ):
            self._check_status(response.status_code)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > RESPONSE_MAX_BYTES:
                    raise self._fail(
                        f"{self.label} sent an answer larger than {RESPONSE_MAX_BYTES} bytes"
                    )
        return bytes(body)

    def _check_status(self, status: int) -> None:
        if status == 200:
            return
        reason = f"answered HTTP {status}"
        if status in (301, 302, 303, 307, 308):
            reason += " (a redirect: check the base URL)"
        elif status == 429:
            reason += " (too many requests; try again later)"
        hint = self._status_hint(status)
        raise self._fail(f"{self.label} {reason}{hint}")

    def _status_hint(self, status: int) -> str:
        return ""

    def _json(self, content: bytes) -> Mapping[str, Any]:
        try:
            body = json.loads(content)
        except (ValueError, UnicodeDecodeError):
            raise self._fail(f"{self.label} answered with invalid JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise self._fail(f"{self.label} answered without a list of results")
        return body

    @staticmethod
    def _listed(items: Iterable[Any], snippet_key: str = "content") -> list[WebResult]:
        """WebResults from JSON result objects (`url`, `title`, `snippet_key`); entries
        without a URL are skipped."""
        results = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("url"), str):
                continue
            results.append(
                WebResult(
                    url=item["url"].strip(),
                    title=_one_line(item.get("title")),
                    snippet=_one_line(item.get(snippet_key)),
                )
            )
        return results


def _one_line(value: object) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


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
        if not results and _is_challenge(content):
            raise self._fail(f"{self.label} asked for a challenge instead of results (rate limit)")
        return results

    def _status_hint(self, status: int) -> str:
        if status == 202:
            return " (a challenge page instead of results: too many queries; try again later)"
        return ""


def _is_challenge(content: bytes) -> bool:
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
                title=_one_line(links[0].text_content()),
                snippet=_one_line(snippets[0].text_content()) if snippets else "",
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
    if not _is_web_url(absolute):
        return None
    if host == "duckduckgo.com" or host.endswith(".duckduckgo.com"):
        return None
    return absolute


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
