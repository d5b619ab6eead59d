"""The fetching itself: connections pinned to the addresses the guard checked, one deadline
for the whole fetch, redirects judged hop by hop, and a body counted while it streams, after
decompression in bounded steps."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from learningtool.fetch.errors import (
    FetchFailed,
    FetchTimeout,
    TooLarge,
    TooManyRedirects,
    UrlNotAllowed,
)
from learningtool.fetch.guard import AddressGuard, IPAddress, canonical_url, literal_address

Resolver = Callable[[str, int], Awaitable[list[str]]]
Connector = Callable[[str, int, float | None], Awaitable[httpcore.AsyncNetworkStream]]
ClientFactory = Callable[[httpx.AsyncBaseTransport, httpx.Timeout], httpx.AsyncClient]

USER_AGENT = "learningtool-fetch/0.1"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_INFLATE_STEP = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


# -- public types -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int = 20 * 1024 * 1024
    total_seconds: float = 20.0
    connect_seconds: float = 5.0
    read_seconds: float = 10.0
    max_redirects: int = 5


@dataclass(frozen=True)
class FetchedDocument:
    url: str  # after redirects
    content: bytes  # decoded from any Content-Encoding
    content_type: str | None
    title: str | None = None  # a hint for later stages; the fetcher does not parse pages


# -- the network layer ------------------------------------------------------------------------


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host`, without blocking the loop."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchFailed(f"could not resolve host {host}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def tcp_connector(
    ip: str, port: int, connect_timeout: float | None
) -> httpcore.AsyncNetworkStream:
    """Opens a TCP connection to an address that has already been checked."""
    return await httpcore.AnyIOBackend().connect_tcp(ip, port, timeout=connect_timeout)


class _PinningBackend(httpcore.AsyncNetworkBackend):
    """httpcore asks its network backend to connect to (host, port). This backend resolves
    each host once per fetch, refuses it if any address is blocked, and connects to the
    checked addresses: the name is never looked up again, so DNS rebinding cannot swap in an
    internal address after the check. TLS is started by httpcore on the returned stream with
    the URL's host name, so SNI and certificate verification are unaffected."""

    def __init__(
        self, guard: AddressGuard, resolver: Resolver, connector: Connector, limits: FetchLimits
    ) -> None:
        self._guard = guard
        self._resolver = resolver
        self._connector = connector
        self._limits = limits
        self._pins: dict[str, list[IPAddress]] = {}

    async def pin(self, host: str, port: int) -> list[IPAddress]:
        key = host.lower()
        if key not in self._pins:
            self._pins[key] = await self._lookup(key, port)
        return self._pins[key]

    async def _lookup(self, host: str, port: int) -> list[IPAddress]:
        literal = literal_address(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                async with asyncio.timeout(self._limits.connect_seconds):
                    found = await self._resolver(host, port)
            except TimeoutError:
                raise FetchTimeout(f"resolving host {host} took too long") from None
            addresses = [ipaddress.ip_address(a) for a in found]
        if not addresses:
            raise FetchFailed(f"host {host} has no addresses")
        for ip in addresses:
            self._guard.check_address(ip, host=None if literal else host)
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception | None = None
        for ip in await self.pin(host, port):
            try:
                return await self._connector(str(ip), port, timeout)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # pin() never returns an empty list
        raise failure


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, with its connection pool built on the pinning backend (httpx has
    no parameter for the backend, so the pool it built is replaced)."""

    def __init__(self, backend: _PinningBackend, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, network_backend=backend, http1=True, http2=False
        )


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context(trust_env=False)  # reads the CA bundle: call off the loop


def default_client(
    transport: httpx.AsyncBaseTransport, timeout: httpx.Timeout
) -> httpx.AsyncClient:
    """The client `fetch_url` uses. A replacement must keep `transport`: it is what enforces
    the guard. Redirects and Accept-Encoding are set per request, so they cannot be lost."""
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, trust_env=False, headers={"User-Agent": USER_AGENT}
    )


# -- fetching ---------------------------------------------------------------------------------


async def fetch_url(
    url: str,
    *,
    limits: FetchLimits,
    guard: AddressGuard | None = None,
    resolver: Resolver = system_resolver,
    connector: Connector = tcp_connector,
    client_factory: ClientFactory = default_client,
) -> FetchedDocument:
    """Downloads `url` (following up to `limits.max_redirects` redirects, each re-checked)
    and returns its decoded body. Raises a `FetchError` subclass on any refusal or failure."""
    guard = guard or AddressGuard()
    backend = _PinningBackend(guard, resolver, connector, limits)
    try:
        async with asyncio.timeout(limits.total_seconds):
            ssl_context = await asyncio.to_thread(_default_ssl_context)
            transport = _PinnedTransport(backend, ssl_context)
            timeout = httpx.Timeout(
                limits.read_seconds, connect=limits.connect_seconds, pool=limits.connect_seconds
            )
            async with client_factory(transport, timeout) as client:
                return await _follow(client, backend, _checked_url(url, guard), guard, limits)
    except TimeoutError:
        raise FetchTimeout(f"fetching took longer than {limits.total_seconds:g} s") from None


def _checked_url(url: str, guard: AddressGuard, base: httpx.URL | None = None) -> httpx.URL:
    try:
        parsed = httpx.URL(canonical_url(url))
        parsed = base.join(parsed) if base is not None else parsed
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise UrlNotAllowed(f"not a valid URL: {exc}") from None
    guard.check_url(parsed)
    return parsed


async def _follow(
    client: httpx.AsyncClient,
    backend: _PinningBackend,
    url: httpx.URL,
    guard: AddressGuard,
    limits: FetchLimits,
) -> FetchedDocument:
    for _ in range(limits.max_redirects + 1):
        await backend.pin(url.raw_host.decode("ascii"), url.port or _DEFAULT_PORTS[url.scheme])
        with _transport_errors(url):
            async with client.stream(
                "GET", url, follow_redirects=False, headers={"Accept-Encoding": "gzip, deflate"}
            ) as response:
                location = _redirect_location(response)
                if location is None:
                    return await _document(response, limits.max_bytes)
        url = _checked_url(location, guard, base=url)
    raise TooManyRedirects(f"more than {limits.max_redirects} redirects")


@contextmanager
def _transport_errors(url: httpx.URL) -> Iterator[None]:
    """Turns httpx's exceptions into fetch errors with a short, readable message."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise FetchTimeout(f"{url.host} did not answer in time ({type(exc).__name__})") from exc
    except httpx.InvalidURL as exc:  # e.g. a redirect to `http:\\host\x`, refused late
        raise UrlNotAllowed(f"not a valid URL: {exc}") from None
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise FetchFailed(f"could not fetch from {url.host}: {reason}", url=str(url)) from exc


def _redirect_location(response: httpx.Response) -> str | None:
    if response.status_code not in REDIRECT_STATUSES:
        return None
    location = str(response.headers.get("location", ""))
    if not location:
        raise FetchFailed(
            f"redirect {response.status_code} without a Location", status=response.status_code
        )
    return location


async def _document(response: httpx.Response, max_bytes: int) -> FetchedDocument:
    if not 200 <= response.status_code < 300:
        raise FetchFailed(
            f"the server answered {response.status_code} {response.reason_phrase}".rstrip(),
            status=response.status_code,
            url=str(response.url),
        )
    content = await _read_body(response, max_bytes)
    return FetchedDocument(
        url=str(response.url), content=content, content_type=response.headers.get("content-type")
    )


async def _read_body(response: httpx.Response, max_bytes: int) -> bytes:
    """Reads at most `max_bytes` (raw and decoded), failing as soon as either is exceeded;
    leaving the stream early makes httpcore drop the connection, so the server stops too."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes, declared=int(declared))
    decoder = _decoder(response.headers.get("content-encoding", ""))
    body = bytearray()
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > max_bytes:
            raise _too_large(max_bytes)
        for piece in decoder.feed(chunk) if decoder else (chunk,):
            body += piece
            if len(body) > max_bytes:
                raise _too_large(max_bytes)
    if decoder is not None:
        body += decoder.finish()
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
    return bytes(body)


def _too_large(max_bytes: int, *, declared: int | None = None) -> TooLarge:
    size = f" ({declared} bytes)" if declared is not None else ""
    message = f"the document{size} is larger than the {max_bytes} byte limit"
    return TooLarge(message, details={"limit": max_bytes})


class _Inflate:
    """gzip/deflate decoding that never yields more than `_INFLATE_STEP` bytes per step, so a
    small compressed body cannot expand into gigabytes before the size cap sees it (httpx's
    own decoder inflates each network chunk in one go)."""

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._raw_fallback = encoding == "deflate"  # servers often send raw deflate
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            out = self._step(data)
            if not out:  # input consumed and nothing buffered
                return
            yield out
            data = self._zlib.unconsumed_tail

    def finish(self) -> bytes:
        return self._zlib.flush()

    def _step(self, data: bytes) -> bytes:
        try:
            out = self._zlib.decompress(data, _INFLATE_STEP)
        except zlib.error:
            if not self._raw_fallback:
                raise FetchFailed(f"the response is not valid {self._encoding} data") from None
            self._raw_fallback = False
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._step(data)
        if out:  # the header was accepted, so a later error is real corruption
            self._raw_fallback = False
        return out


def _decoder(content_encoding: str) -> _Inflate | None:
    """The decoder for a Content-Encoding (None: none needed); a list of encodings, brotli and
    zstd are refused (we only ask for gzip and deflate)."""
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Inflate(encoding)
    raise FetchFailed(f"unsupported content encoding '{encoding}'")
