"""Download a web page or file for ingestion without letting the URL reach inside our network.

A user-supplied URL is a server-side request forgery vector: it can name loopback services, the
private network or the cloud metadata endpoint, directly, through a redirect, through odd IPv4
spellings (`2130706433`, `0x7f.1`), or through a DNS answer that changes between our check and
our connect (rebinding). So:

* every hop (the first URL and each redirect) passes `AddressGuard.check_url`: http/https only,
  no credentials, no metadata or localhost names, literal addresses judged as written;
* each host is resolved once per fetch, every address it resolves to is judged, and connections
  go to those checked addresses only (`_PinningBackend`); the Host header, TLS SNI and the
  certificate check still use the original name, because httpcore takes them from the URL;
* one deadline covers the whole fetch, and the body is counted while it streams, after
  decompression done here in bounded steps, so neither a lying Content-Length nor a gzip bomb
  gets past the size cap.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpcore
import httpx

from learningtool.errors import AppError, InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
Connector = Callable[[str, int, float | None], Awaitable[httpcore.AsyncNetworkStream]]
ClientFactory = Callable[[httpx.AsyncBaseTransport, httpx.Timeout], httpx.AsyncClient]

USER_AGENT = "learningtool-fetch/0.1"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Metadata services by name (their addresses are link-local or private, refused anyway).
METADATA_HOSTNAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
# Refused ranges, first match names the reason. Loopback is judged apart (tests may allow it);
# `is_reserved` and `is_global` then catch the rest of the special-purpose registries.
_BLOCKED_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(net), reason)
    for net, reason in (
        ("0.0.0.0/32", "unspecified"),
        ("::/128", "unspecified"),
        ("169.254.0.0/16", "link-local"),  # includes cloud metadata 169.254.169.254
        ("fe80::/10", "link-local"),
        ("224.0.0.0/4", "multicast"),
        ("ff00::/8", "multicast"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("fc00::/7", "private"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("0.0.0.0/8", "'this network'"),
        ("192.0.0.0/24", "reserved for IETF protocols"),  # includes Oracle's 192.0.0.192
        ("198.18.0.0/15", "reserved for benchmarking"),
        ("fec0::/10", "site-local"),
        ("64:ff9b:1::/48", "local-use NAT64"),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LEGACY_IPV4 = re.compile(r"^[0-9a-fx.]+$", re.IGNORECASE)
_INFLATE_STEP = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


# -- errors -----------------------------------------------------------------------------------


class FetchError(AppError):
    """Every fetch failure; `code` is stable and `message` is safe to show the user."""

    status_code = 502
    code = "fetch_failed"


class UrlNotAllowed(FetchError, InvalidInput):
    """The URL, a redirect, or an address it resolves to is refused by the guard."""

    status_code = 422
    code = "url_not_allowed"


class TooLarge(FetchError):
    status_code = 422
    code = "too_large"


class FetchTimeout(FetchError):
    status_code = 504
    code = "timeout"


class TooManyRedirects(FetchError):
    status_code = 502
    code = "too_many_redirects"


class FetchFailed(FetchError):
    """The server answered with an error status, or could not be reached or understood."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        details: dict[str, Any] = {"url": url} if url else {}
        if status is not None:
            details["status"] = status
        super().__init__(message, details=details)
        self.status = status


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


@dataclass(frozen=True)
class AddressGuard:
    """Decides which URLs and addresses a fetch may reach. Loopback is refused unless a test
    (or a deliberately local setup) opts in; everything else non-public is always refused."""

    allow_loopback: bool = False
    blocked_hostnames: frozenset[str] = METADATA_HOSTNAMES

    def check_url(self, url: httpx.URL) -> None:
        if url.scheme not in ("http", "https"):
            raise UrlNotAllowed(f"scheme '{url.scheme}' is not allowed; use http or https")
        if url.userinfo:
            raise UrlNotAllowed("URLs with a user name or password are not allowed")
        host = _host_name(url.raw_host.decode("ascii"))
        if not host:
            raise UrlNotAllowed("the URL has no host")
        try:
            url.host  # noqa: B018 - decodes the IDNA labels: `xn--` alone is malformed
        except ValueError:
            raise UrlNotAllowed(f"host {host} is not a valid host name") from None
        if host in self.blocked_hostnames:
            raise UrlNotAllowed(f"host {host} is a cloud metadata service")
        if not self.allow_loopback and (host == "localhost" or host.endswith(".localhost")):
            raise UrlNotAllowed(f"host {host} is loopback{LOOPBACK_HINT}")
        literal = literal_address(host)
        if literal is not None:
            self.check_address(literal)

    def check_address(self, ip: IPAddress, *, host: str | None = None) -> None:
        reason = self.refusal(ip)
        if reason is not None:
            via = f" (host {host} resolves to it)" if host else ""
            hint = LOOPBACK_HINT if reason.endswith("loopback") else ""
            raise UrlNotAllowed(f"address {ip} is {reason}{via}{hint}")

    def refusal(self, ip: IPAddress) -> str | None:
        """Why `ip` may not be contacted, or None when it may."""
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = self.refusal(embedded)
            return None if inner is None else f"a form of {embedded}, which is {inner}"
        if ip.is_loopback:
            return None if self.allow_loopback else "loopback"
        for network, reason in _BLOCKED_NETWORKS:
            if ip in network:
                return reason
        if ip.is_reserved:
            return "reserved"
        return None if ip.is_global else "not publicly routable"


# A self-hoster fetching a page served on this machine needs to know the switch exists.
LOOPBACK_HINT = "; a local setup can allow it with LEARNINGTOOL_FETCH_ALLOW_LOOPBACK=true"


def _host_name(raw_host: str) -> str:
    return raw_host.lower().rstrip(".")


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4): connecting to the
    IPv6 form reaches the IPv4 one, so it must be judged as that."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as an IP literal names, including the legacy IPv4 forms
    the C resolver accepts (`2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`)."""
    host = _host_name(host)
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if not _LEGACY_IPV4.match(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def canonical_url(url: str) -> str:
    """Rewrites a legacy IPv4 host to dotted-quad. httpx rejects some of these forms
    (`0177.0.0.1`) and passes others to the resolver, which reads them as numbers; rewriting
    them lets the guard judge the address the socket layer would really use."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return url  # httpx will say what is wrong with it
    if not host or ":" in host:
        return url
    ip = literal_address(host)
    if ip is None or str(ip) == host:
        return url
    userinfo = parts.netloc[: parts.netloc.rfind("@") + 1]
    netloc = f"{userinfo}{ip}" + (f":{port}" if port is not None else "")
    return urlunsplit(parts._replace(netloc=netloc))


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
