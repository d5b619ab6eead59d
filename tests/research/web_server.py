"""A scripted HTTP server on 127.0.0.1 that plays search providers and serves result pages.

    async with web_server() as server:
        server.route("GET", "/search", searxng([result("https://a.example/", "A", "about A")]))
        server.route("GET", "/page", page("Title", "<p>Body</p>"))
        ...  # point a searcher at server.base
        assert server.paths == ["/search"]

Each route answers a `Reply` (or a function of the request choosing one); an unrouted path
gets 404. Every request is recorded (method, path, query, headers, body). Built on
`asyncio.start_server`, so nothing blocks the loop; every response closes its connection.
"""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    hang: bool = False  # never answer (for timeouts)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


Route = Reply | Callable[[Seen], Reply]


@dataclass
class WebServer:
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    port: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, method: str, path: str, reply: Route) -> None:
        self.routes[(method, path)] = reply

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            seen = await _read_request(reader)
            self.requests.append(seen)
            route = self.routes.get((seen.method, seen.path), Reply(404, b"no such page"))
            reply = route(seen) if callable(route) else route
            if reply.hang:
                await asyncio.sleep(3600)
            writer.write(_response(reply))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _read_request(reader: asyncio.StreamReader) -> Seen:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    line, *lines = head.rstrip("\r\n").split("\r\n")
    method, target, _ = line.split(" ", 2)
    headers = {}
    for header in lines:
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    body = await reader.readexactly(length) if length else b""
    parts = urlsplit(target)
    return Seen(method, parts.path, parse_qs(parts.query), headers, body)


def _response(reply: Reply) -> bytes:
    head = [
        f"HTTP/1.1 {reply.status} Status",
        f"Content-Type: {reply.content_type}",
        f"Content-Length: {len(reply.body)}",
        "Connection: close",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + reply.body


@asynccontextmanager
async def web_server() -> AsyncIterator[WebServer]:
    state = WebServer()
    listener = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = listener.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        listener.close()
        await state.stop()
        await listener.wait_closed()


# -- what the providers answer ------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    url: str
    title: str
    snippet: str


def json_reply(body: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(body).encode(), "application/json")


def searxng(hits: list[Hit]) -> Reply:
    """SearXNG's `format=json` answer (the fields we read, plus some we do not)."""
    results = [
        {"url": h.url, "title": h.title, "content": h.snippet, "engine": "fake", "score": 1.0}
        for h in hits
    ]
    return json_reply({"query": "q", "number_of_results": len(hits), "results": results})


def tavily(hits: list[Hit]) -> Reply:
    results = [
        {"url": h.url, "title": h.title, "content": h.snippet, "score": 0.9, "raw_content": None}
        for h in hits
    ]
    return json_reply({"query": "q", "answer": None, "results": results, "response_time": 0.1})


def duckduckgo(hits: list[Hit], *, ad: Hit | None = None) -> Reply:
    """A page shaped like html.duckduckgo.com's: an ad first (when given), then each hit in a
    `result` div whose links go through DuckDuckGo's `/l/?uddg=` redirect."""
    blocks = []
    if ad is not None:
        blocks.append(
            '<div class="result results_links results_links_deep result--ad">'
            '<h2 class="result__title"><a class="result__a" '
            'href="https://duckduckgo.com/y.js?ad_domain=ads.example&amp;u3=x">'
            f"{html.escape(ad.title)}</a></h2>"
            f'<a class="result__snippet" href="#">{html.escape(ad.snippet)}</a></div>'
        )
    for hit in hits:
        link = f"//duckduckgo.com/l/?uddg={quote(hit.url, safe='')}&amp;rut=abc123"
        blocks.append(
            '<div class="result results_links results_links_deep web-result">'
            '<div class="links_main links_deep result__body">'
            f'<h2 class="result__title"><a rel="nofollow" class="result__a" href="{link}">'
            f"{html.escape(hit.title)}</a></h2>"
            f'<div class="result__extras"><a class="result__url" href="{link}">x</a></div>'
            f'<a class="result__snippet" href="{link}">{_bold_first_word(hit.snippet)}</a>'
            "</div></div>"
        )
    body = (
        "<!DOCTYPE html><html><head><title>q at DuckDuckGo</title></head><body>"
        '<div id="links" class="results">' + "".join(blocks) + "</div></body></html>"
    )
    return Reply(200, body.encode(), "text/html; charset=UTF-8")


def _bold_first_word(snippet: str) -> str:
    """DuckDuckGo bolds the query's words inside snippets."""
    first, _, rest = html.escape(snippet).partition(" ")
    return f"<b>{first}</b> {rest}" if rest else f"<b>{first}</b>"


def page(title: str, body_html: str) -> Reply:
    """A result page with navigation around its main content."""
    markup = (
        f"<html><head><title>{html.escape(title)}</title></head><body>"
        '<nav><a href="/">Home</a> <a href="/about">About</a></nav>'
        f"<main>{body_html}</main><footer>Copyright</footer></body></html>"
    )
    return Reply(200, markup.encode(), "text/html; charset=utf-8")
