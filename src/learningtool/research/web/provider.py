"""What every search provider shares: its trusted endpoint, ordering, `k`, pages and
errors that name the provider and the reason, never the API key."""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import httpx

from learningtool.research.agent.context import web_evidence
from learningtool.research.agent.state import Evidence
from learningtool.research.web.domains import is_web_url, normalise_domain, prefer_domains, unique
from learningtool.research.web.pages import PageFetcher
from learningtool.research.web.results import (
    RESPONSE_MAX_BYTES,
    USER_AGENT,
    WebResult,
    WebSearchError,
    WebSearchNotConfigured,
)

if TYPE_CHECKING:
    pass


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
        if not is_web_url(base):
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
        found = unique(await self._results(query.strip(), k))
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
                    title=one_line(item.get("title")),
                    snippet=one_line(item.get(snippet_key)),
                )
            )
        return results


def one_line(value: object) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""
