"""Web search providers over real HTTP on 127.0.0.1: parsing, pages, the guard, errors, order.

Every provider and every result page is played by `web_server` (nothing leaves the machine).
Result pages live on a loopback server too, so a searcher whose guard refuses loopback must
fall back to snippets without the page server seeing a single request.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from learningtool.config import Settings
from learningtool.fetch import AddressGuard, FetchLimits
from learningtool.research.agent.context import ResearchContext
from learningtool.research.agent.state import Evidence
from learningtool.research.web import (
    DuckDuckGoSearcher,
    PageFetcher,
    SearxngSearcher,
    TavilySearcher,
    WebSearchError,
    WebSearchNotConfigured,
    create_web_searcher,
    page_text,
    resolve_duckduckgo_link,
    truncate,
)
from tests.research.web_server import (
    Hit,
    Reply,
    WebServer,
    duckduckgo,
    json_reply,
    page,
    searxng,
    tavily,
    web_server,
)

API_KEY = "tvly-secret-key-0123456789"
LIMITS = FetchLimits(max_bytes=64 * 1024, total_seconds=2, connect_seconds=1, read_seconds=1)
HITS = [
    Hit("https://alpha.example/one", "Alpha one", "Alpha is the first letter."),
    Hit("https://beta.example/two", "Beta two", "Beta comes second."),
    Hit("https://gamma.example/three", "Gamma three", "Gamma is third."),
]


@pytest.fixture
async def provider() -> AsyncIterator[WebServer]:
    async with web_server() as server:
        yield server


@pytest.fixture
async def pages() -> AsyncIterator[WebServer]:
    async with web_server() as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Built outside the loop (the data_dir validator touches the file system)."""
    return Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]


def fetcher(*, loopback: bool, count: int = 3) -> PageFetcher:
    return PageFetcher(limits=LIMITS, guard=AddressGuard(allow_loopback=loopback), count=count)


def shape(evidence: list[Evidence]) -> list[tuple[int, str, str, str | None]]:
    return [(e["rank"], e["url"] or "", e["title"], e["snippet"]) for e in evidence]


def expected(hits: list[Hit]) -> list[tuple[int, str, str, str | None]]:
    return [(rank, h.url, h.title, h.snippet) for rank, h in enumerate(hits, start=1)]


# -- each provider, parsed in order -------------------------------------------------------------


async def test_searxng_results_in_order(provider: WebServer) -> None:
    provider.route("GET", "/search", searxng(HITS))
    searcher = SearxngSearcher(base_url=provider.base)

    evidence = await searcher.search("greek letters", 5)

    assert shape(evidence) == expected(HITS)
    assert [e["text"] for e in evidence] == [h.snippet for h in HITS]  # no page fetcher
    assert all(e["kind"] == "web" and e["key"] == f"web:{e['url']}" for e in evidence)
    (seen,) = provider.requests
    assert seen.query == {"q": ["greek letters"], "format": ["json"]}


async def test_tavily_results_in_order_and_request(provider: WebServer) -> None:
    provider.route("POST", "/search", tavily(HITS))
    searcher = TavilySearcher(api_key=API_KEY, base_url=provider.base)

    evidence = await searcher.search("greek letters", 3)

    assert shape(evidence) == expected(HITS)
    body = provider.requests[0].json()
    assert body["api_key"] == API_KEY
    assert body["query"] == "greek letters"
    assert body["max_results"] == 3
    assert API_KEY not in repr(searcher)


async def test_duckduckgo_html_parsed_and_redirects_resolved(provider: WebServer) -> None:
    hits = [*HITS, Hit("https://delta.example/four?x=1&y=2#frag", "Delta & four", "Delta.")]
    ad = Hit("https://ads.example/", "Buy now", "An advertisement.")
    provider.route("POST", "/html/", duckduckgo(hits, ad=ad))
    searcher = DuckDuckGoSearcher(base_url=provider.base)

    evidence = await searcher.search("greek letters", 10)

    assert shape(evidence) == expected(hits)  # the ad is left out, query strings kept
    assert provider.requests[0].form() == {"q": ["greek letters"]}


def test_duckduckgo_links() -> None:
    base = "https://html.duckduckgo.com/html/"
    wrapped = "//duckduckgo.com/l/?uddg=https%3A%2F%2Fexample.org%2Fa%3Fb%3Dc&rut=1"
    assert resolve_duckduckgo_link(wrapped, base) == "https://example.org/a?b=c"
    assert resolve_duckduckgo_link("/l/?uddg=http%3A%2F%2Fexample.org%2F", base) == (
        "http://example.org/"
    )
    assert resolve_duckduckgo_link("https://example.org/direct", base) == (
        "https://example.org/direct"
    )
    assert resolve_duckduckgo_link("https://duckduckgo.com/y.js?ad=1", base) is None
    assert resolve_duckduckgo_link("/l/?rut=only", base) is None
    assert resolve_duckduckgo_link("javascript:alert(1)", base) is None
    assert resolve_duckduckgo_link("/l/?uddg=javascript%3Aalert(1)", base) is None


async def test_duckduckgo_challenge_is_an_error(provider: WebServer) -> None:
    provider.route("POST", "/html/", Reply(202, b'<div class="anomaly-modal">?</div>'))
    with pytest.raises(WebSearchError, match=r"DuckDuckGo at .* HTTP 202 \(a challenge"):
        await DuckDuckGoSearcher(base_url=provider.base).search("q", 3)
    provider.route("POST", "/html/", Reply(200, b'<div class="anomaly-modal">?</div>', "text/html"))
    with pytest.raises(WebSearchError, match="challenge instead of results"):
        await DuckDuckGoSearcher(base_url=provider.base).search("q", 3)


async def test_duckduckgo_no_results_is_empty(provider: WebServer) -> None:
    provider.route("POST", "/html/", duckduckgo([]))
    assert await DuckDuckGoSearcher(base_url=provider.base).search("nothing", 3) == []


# -- pages --------------------------------------------------------------------------------------


def serve_pages(pages: WebServer) -> list[Hit]:
    pages.route(
        "GET", "/article", page("Article", "<h1>Photosynthesis</h1><p>Light becomes sugar.</p>")
    )
    pages.route("GET", "/notes.txt", Reply(200, b"Plain notes\n\nabout leaves."))
    pages.route("GET", "/paper.pdf", Reply(200, b"%PDF-1.7 ...", "application/pdf"))
    pages.route("GET", "/fourth", page("Fourth", "<p>Never fetched: beyond the count.</p>"))
    return [
        Hit(pages.url("/article"), "Article", "snippet of the article"),
        Hit(pages.url("/notes.txt"), "Notes", "snippet of the notes"),
        Hit(pages.url("/paper.pdf"), "Paper", "snippet of the paper"),
        Hit(pages.url("/fourth"), "Fourth", "snippet of the fourth"),
    ]


async def test_page_text_fetched_and_used(
    provider: WebServer, pages: WebServer, settings: Settings
) -> None:
    hits = serve_pages(pages)
    provider.route("GET", "/search", searxng(hits))
    configured = settings.model_copy(
        update={
            "web_search_provider": "searxng",
            "web_search_base_url": provider.base,
            "fetch_allow_loopback": True,
        }
    )
    searcher = create_web_searcher(configured)
    assert isinstance(searcher, SearxngSearcher)

    evidence = await searcher.search("photosynthesis", 4)

    texts = [e["text"] for e in evidence]
    assert texts[0] == "# Photosynthesis\n\nLight becomes sugar."  # main content, no nav/footer
    assert texts[1] == "Plain notes\n\nabout leaves."
    assert texts[2] == "snippet of the paper"  # not HTML or text: the snippet
    assert texts[3] == "snippet of the fourth"  # beyond web_search_fetch_pages (3)
    assert [e["snippet"] for e in evidence] == [h.snippet for h in hits]
    assert sorted(pages.paths) == ["/article", "/notes.txt", "/paper.pdf"]


async def test_loopback_result_not_fetched_when_guard_refuses(
    provider: WebServer, pages: WebServer, settings: Settings
) -> None:
    hits = serve_pages(pages)
    hits.append(Hit("http://localhost:9/x", "Localhost", "snippet of localhost"))
    hits.append(Hit("http://10.0.0.1/x", "Private", "snippet of private"))
    provider.route("GET", "/search", searxng(hits))
    configured = settings.model_copy(
        update={
            "web_search_provider": "searxng",
            "web_search_base_url": provider.base,
            "web_search_fetch_pages": 10,
        }
    )
    assert configured.fetch_allow_loopback is False
    searcher = create_web_searcher(configured)
    assert searcher is not None

    evidence = await searcher.search("photosynthesis", 10)

    assert [e["text"] for e in evidence] == [h.snippet for h in hits]
    assert pages.requests == []  # the provider (trusted, also loopback) was asked; no page was
    assert provider.paths == ["/search"]


async def test_failing_pages_fall_back_to_snippets(provider: WebServer, pages: WebServer) -> None:
    pages.route("GET", "/big", Reply(200, b"<p>" + b"x" * (LIMITS.max_bytes + 1) + b"</p>"))
    pages.route("GET", "/slow", Reply(hang=True))
    pages.route("GET", "/broken", Reply(500, b"oops"))
    hits = [
        Hit(pages.url("/big"), "Big", "snippet of big"),
        Hit(pages.url("/slow"), "Slow", "snippet of slow"),
        Hit(pages.url("/broken"), "Broken", "snippet of broken"),
        Hit(pages.url("/missing"), "Missing", "snippet of missing"),
    ]
    provider.route("GET", "/search", searxng(hits))
    slow_limits = FetchLimits(max_bytes=LIMITS.max_bytes, total_seconds=0.5, read_seconds=0.5)
    guard = AddressGuard(allow_loopback=True)
    searcher = SearxngSearcher(
        base_url=provider.base, pages=PageFetcher(limits=slow_limits, guard=guard, count=4)
    )

    evidence = await searcher.search("q", 4)

    assert [e["text"] for e in evidence] == [h.snippet for h in hits]
    assert sorted(pages.paths) == ["/big", "/broken", "/missing", "/slow"]


async def test_pages_fetched_concurrently(provider: WebServer, pages: WebServer) -> None:
    """Three pages that each take 0.3 s come back in well under 0.9 s."""
    started: list[float] = []
    loop = asyncio.get_running_loop()

    def slow(_seen: object) -> Reply:
        started.append(loop.time())
        return Reply(200, b"<p>slow page</p>", "text/html")

    hits = [Hit(pages.url(f"/p{i}"), f"P{i}", f"s{i}") for i in range(3)]
    for i in range(3):
        pages.route("GET", f"/p{i}", slow)
    provider.route("GET", "/search", searxng(hits))
    searcher = SearxngSearcher(base_url=provider.base, pages=fetcher(loopback=True))

    evidence = await searcher.search("q", 3)

    assert [e["text"] for e in evidence] == ["slow page"] * 3
    assert max(started) - min(started) < 0.5  # all three requests were in flight together


def test_page_text_is_truncated_at_a_word() -> None:
    words = " ".join(f"word{i}" for i in range(3000))
    text = page_text(f"<p>{words}</p>".encode(), "text/html", 6000)
    assert text is not None
    assert len(text) <= 6000
    assert text.endswith("…")
    assert words.startswith(text[:-1])
    assert text[-2].isdigit()  # cut between words, not inside one
    assert truncate("short", 10) == "short"
    assert truncate("abcdefghijklmnop", 8) == "abcdefg…"  # no space to cut at
    assert page_text(b"\x00\x01binary", "application/octet-stream") is None
    assert page_text(b"   ", "text/html") is None


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (json_reply({"detail": f"bad key {API_KEY}"}, 500), r"Tavily at .* answered HTTP 500"),
        (json_reply({"detail": f"bad key {API_KEY}"}, 401), r"HTTP 401 \(the API key was refused"),
        (Reply(200, f"not json {API_KEY}".encode(), "application/json"), "invalid JSON"),
        (json_reply({"results": {"not": "a list"}, "key": API_KEY}), "without a list of results"),
        (Reply(hang=True), r"did not answer within 0\.3 s"),
    ],
    ids=["500", "401", "malformed-json", "wrong-shape", "timeout"],
)
async def test_tavily_failures(provider: WebServer, reply: Reply, message: str) -> None:
    provider.route("POST", "/search", reply)
    searcher = TavilySearcher(api_key=API_KEY, base_url=provider.base, timeout_seconds=0.3)

    with pytest.raises(WebSearchError, match=message) as caught:
        await searcher.search("q", 3)

    error = caught.value
    assert API_KEY not in str(error)
    assert API_KEY not in repr(error.details)
    assert "Traceback" not in error.message
    assert error.__cause__ is None  # nothing chained that could carry the request


async def test_searxng_failures(provider: WebServer) -> None:
    searcher = SearxngSearcher(base_url=provider.base)
    provider.route("GET", "/search", Reply(500, b"boom"))
    with pytest.raises(WebSearchError, match=r"^SearXNG at http://127\.0\.0\.1:\d+ .*HTTP 500$"):
        await searcher.search("q", 3)
    provider.route("GET", "/search", Reply(403, b"forbidden"))
    with pytest.raises(WebSearchError, match=r"search\.formats"):
        await searcher.search("q", 3)
    provider.route("GET", "/search", Reply(200, b"<html>not json</html>", "text/html"))
    with pytest.raises(WebSearchError, match="invalid JSON"):
        await searcher.search("q", 3)


async def test_unreachable_provider() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    searcher = DuckDuckGoSearcher(base_url=f"http://user:pw@127.0.0.1:{port}")
    with pytest.raises(WebSearchError, match="could not be reached") as caught:
        await searcher.search("q", 3)
    assert "pw" not in caught.value.message


# -- preferred domains and k --------------------------------------------------------------------


MIXED = [
    Hit("https://a.example/1", "A", "a"),
    Hit("https://docs.python.org/3/", "Docs", "docs"),
    Hit("https://b.example/2", "B", "b"),
    Hit("https://www.python.org/about", "About", "about"),
    Hit("https://notpython.org/", "Impostor", "not a subdomain"),
]


async def test_preferred_domains_come_first(provider: WebServer) -> None:
    provider.route("GET", "/search", searxng(MIXED))
    searcher = SearxngSearcher(base_url=provider.base, preferred_domains=["https://Python.org/"])

    evidence = await searcher.search("python", 5)

    assert [e["title"] for e in evidence] == ["Docs", "About", "A", "B", "Impostor"]
    assert [e["rank"] for e in evidence] == [1, 2, 3, 4, 5]
    assert provider.requests[0].query == {"q": ["python"], "format": ["json"]}  # unchanged


async def test_preferred_domains_widen_tavily_request(provider: WebServer) -> None:
    provider.route("POST", "/search", tavily(MIXED))
    searcher = TavilySearcher(
        api_key=API_KEY, base_url=provider.base, preferred_domains=["python.org"]
    )

    evidence = await searcher.search("python", 2)

    assert [e["title"] for e in evidence] == ["Docs", "About"]  # promoted from below k
    assert provider.requests[0].json()["max_results"] == 4


async def test_k_is_respected(provider: WebServer) -> None:
    provider.route("GET", "/search", searxng(MIXED))
    searcher = SearxngSearcher(base_url=provider.base)

    assert [e["title"] for e in await searcher.search("q", 2)] == ["A", "Docs"]
    assert await searcher.search("q", 0) == []
    assert len(provider.requests) == 1  # k=0 asks nobody


async def test_duplicate_and_non_web_urls_dropped(provider: WebServer) -> None:
    hits = [
        HITS[0],
        Hit("ftp://files.example/x", "FTP", "ftp"),
        Hit("http://[unclosed/x", "Broken", "malformed"),
        Hit("http://host.example:port/x", "Port", "malformed port"),
        HITS[0],
        HITS[1],
    ]
    provider.route("GET", "/search", searxng(hits))
    evidence = await SearxngSearcher(base_url=provider.base).search("q", 5)
    assert shape(evidence) == expected(HITS[:2])


# -- settings and the factory -------------------------------------------------------------------


def test_no_searcher_by_default(settings: Settings) -> None:
    assert settings.web_search_provider == "none"
    assert create_web_searcher(settings) is None
    assert create_web_searcher(settings, preferred_domains=["python.org"]) is None


def test_factory_builds_each_provider(settings: Settings) -> None:
    def configured(**update: object) -> Settings:
        return settings.model_copy(update=update)

    with pytest.raises(WebSearchNotConfigured, match="WEB_SEARCH_BASE_URL"):
        create_web_searcher(configured(web_search_provider="searxng"))
    with pytest.raises(WebSearchNotConfigured, match="WEB_SEARCH_API_KEY"):
        create_web_searcher(configured(web_search_provider="tavily"))
    for wrong in ("localhost:8888", "ftp://host/", "http://", "http://host:port"):
        with pytest.raises(WebSearchNotConfigured, match=r"must be an http\(s\) URL"):
            create_web_searcher(
                configured(web_search_provider="searxng", web_search_base_url=wrong)
            )

    tavily_searcher = create_web_searcher(
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=settings.data_dir,
            web_search_provider="tavily",
            web_search_api_key=API_KEY,  # type: ignore[arg-type]
            web_search_fetch_pages=0,
        ),
        preferred_domains=["python.org"],
    )
    assert isinstance(tavily_searcher, TavilySearcher)
    assert tavily_searcher.base_url == "https://api.tavily.com"
    assert tavily_searcher.pages is None
    assert tavily_searcher.preferred_domains == ["python.org"]

    ddg = create_web_searcher(configured(web_search_provider="duckduckgo"))
    assert isinstance(ddg, DuckDuckGoSearcher)
    assert ddg.base_url == "https://html.duckduckgo.com"
    assert ddg.pages is not None and ddg.pages.count == 3
    assert ddg.pages.guard == AddressGuard(allow_loopback=False)

    # `search` is a SearchFn: it plugs straight into the research context.
    ResearchContext(search_notebook=ddg.search, search_web=ddg.search)
