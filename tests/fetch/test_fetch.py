"""The URL fetcher: guarded addresses, pinned connections, redirects, size and time caps.

Every byte goes to a raw HTTP server on 127.0.0.1. Tests that need a "public" host use
`FakeNetwork`: its resolver answers what the test says, and its connector refuses any address
but `PUBLIC_IP`, which it serves from the loopback server, so nothing leaves 127.0.0.0/8.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import re
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpcore
import pytest

import learningtool.fetch.client as fetch_module
from learningtool.errors import InvalidInput
from learningtool.fetch import (
    AddressGuard,
    FetchedDocument,
    FetchError,
    FetchFailed,
    FetchLimits,
    FetchTimeout,
    TooLarge,
    TooManyRedirects,
    UrlNotAllowed,
    canonical_url,
    fetch_url,
    system_resolver,
)

PUBLIC_IP = "93.184.216.34"  # a global address; only ever "reached" through FakeNetwork
LIMITS = FetchLimits(total_seconds=5, connect_seconds=2, read_seconds=2)
LOOPBACK = AddressGuard(allow_loopback=True)
BIG = 64 * 1024 * 1024
BOMB = gzip.compress(b"\0" * (32 * 1024 * 1024), compresslevel=9)

Handler = Callable[[asyncio.StreamWriter], Awaitable[None]]


# -- a raw loopback HTTP server ---------------------------------------------------------------


@dataclass
class Server:
    """HTTP/1.1 on 127.0.0.1 where each route writes its own bytes, so a test can lie about
    lengths, stream without end or stall. Every response closes its connection."""

    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    port: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            line, *lines = head.split("\r\n")
            path = line.split(" ")[1]
            headers = dict(h.split(":", 1) for h in lines if h)
            self.requests.append((path, {k.lower(): v.strip() for k, v in headers.items()}))
            await self.routes.get(path, respond("404 Not Found", b"no such page"))(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@asynccontextmanager
async def serving(tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    state = Server()
    listener = await asyncio.start_server(state.handle, "127.0.0.1", 0, ssl=tls)
    state.port = listener.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        listener.close()
        await state.stop()
        await listener.wait_closed()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with serving() as state:
        yield state


def respond(status: str = "200 OK", body: bytes = b"", headers: tuple[str, ...] = ()) -> Handler:
    async def handler(writer: asyncio.StreamWriter) -> None:
        head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
        writer.write(("\r\n".join([*head, *headers]) + "\r\n\r\n").encode() + body)
        await writer.drain()

    return handler


def redirect(location: str, status: str = "302 Found") -> Handler:
    return respond(status, headers=(f"Location: {location}",))


@dataclass
class Flood:
    """Sends up to `total` bytes of body after `head`, noting whether the client hung up."""

    head: bytes
    chunked: bool = False
    total: int = BIG
    sent: int = 0
    client_stopped: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, writer: asyncio.StreamWriter) -> None:
        piece = b"x" * 16384
        frame = b"%x\r\n%s\r\n" % (len(piece), piece) if self.chunked else piece
        try:
            writer.write(self.head)
            while self.sent < self.total:
                writer.write(frame)
                await writer.drain()
                self.sent += len(piece)
        except ConnectionError:
            self.client_stopped = True
        finally:
            self.done.set()


# -- a fake DNS and internet that only ever reach loopback ------------------------------------


@dataclass
class FakeNetwork:
    """`answers[host]` lists what successive lookups of `host` return (the last repeats)."""

    server: Server
    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    connections: list[str] = field(default_factory=list)

    async def resolve(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        answers = self.answers[host]
        return answers[min(self.lookups.count(host), len(answers)) - 1]

    async def connect(
        self, ip: str, port: int, timeout: float | None
    ) -> httpcore.AsyncNetworkStream:
        self.connections.append(ip)
        if ip != PUBLIC_IP:
            raise AssertionError(f"the fetcher tried to connect to {ip}")
        backend = httpcore.AnyIOBackend()
        return await backend.connect_tcp("127.0.0.1", self.server.port, timeout=timeout)

    async def fetch(self, url: str, guard: AddressGuard | None = None) -> FetchedDocument:
        return await fetch_url(
            url, limits=LIMITS, guard=guard, resolver=self.resolve, connector=self.connect
        )


@pytest.fixture
def network(server: Server) -> FakeNetwork:
    return FakeNetwork(server, {"public.example": [[PUBLIC_IP]]})


# -- normal fetches ---------------------------------------------------------------------------


async def test_fetches_a_page(server: Server) -> None:
    page = b"<html><title>Hi</title>hello</html>"
    server.routes["/page"] = respond(body=page, headers=("Content-Type: text/html",))

    doc = await fetch_url(f"{server.base}/page", limits=LIMITS, guard=LOOPBACK)

    assert (doc.url, doc.content, doc.content_type, doc.title) == (
        f"{server.base}/page",
        page,
        "text/html",
        None,
    )
    headers = server.requests[0][1]
    assert headers["host"] == f"127.0.0.1:{server.port}"
    assert headers["accept-encoding"] == "gzip, deflate"


async def test_the_system_resolver_is_async_and_sees_through_numeric_forms(
    server: Server,
) -> None:
    server.routes["/page"] = respond(body=b"ok")
    doc = await fetch_url(f"http://localhost:{server.port}/page", limits=LIMITS, guard=LOOPBACK)
    assert doc.content == b"ok"
    # A second line of defence behind `canonical_url`: the resolver reads these as numbers.
    assert await system_resolver("2130706433", 80) == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
    ],
)
async def test_compressed_bodies_are_decoded(
    server: Server, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    text = b"study cards " * 1000
    server.routes["/z"] = respond(body=compress(text), headers=(f"Content-Encoding: {encoding}",))
    doc = await fetch_url(f"{server.base}/z", limits=LIMITS, guard=LOOPBACK)
    assert doc.content == text


async def test_unsupported_content_encoding_fails(server: Server) -> None:
    server.routes["/br"] = respond(body=b"\x0b\x02\x80", headers=("Content-Encoding: br",))
    with pytest.raises(FetchFailed, match="unsupported content encoding 'br'"):
        await fetch_url(f"{server.base}/br", limits=LIMITS, guard=LOOPBACK)


# -- redirects --------------------------------------------------------------------------------


async def test_follows_relative_and_absolute_redirects(server: Server) -> None:
    server.routes["/start"] = redirect("/middle?x=1")
    server.routes["/middle?x=1"] = redirect(f"{server.base}/page", "301 Moved Permanently")
    server.routes["/page"] = respond(body=b"arrived")

    doc = await fetch_url(f"{server.base}/start", limits=LIMITS, guard=LOOPBACK)

    assert (doc.url, doc.content) == (f"{server.base}/page", b"arrived")
    assert server.paths == ["/start", "/middle?x=1", "/page"]


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("{base}/page", "address 127.0.0.1 is loopback"),
        ("http://10.0.0.1/", "address 10.0.0.1 is private"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local"),
        ("http://metadata.google.internal/v1/", "metadata.google.internal is a cloud metadata"),
        ("http://internal.example/", "10.1.2.3 is private (host internal.example resolves"),
        ("http://[::ffff:127.0.0.1]/", "127.0.0.1, which is loopback"),
        ("http://0x7f.1/", "127.0.0.1 is loopback"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
    ],
)
async def test_redirect_to_a_blocked_target_is_refused(
    server: Server, network: FakeNetwork, location: str, reason: str
) -> None:
    network.answers["internal.example"] = [["10.1.2.3"]]
    server.routes["/go"] = redirect(location.format(base=server.base))
    server.routes["/page"] = respond(body=b"internal")

    with pytest.raises(UrlNotAllowed, match=re.escape(reason)):
        await network.fetch("http://public.example/go")

    assert server.paths == ["/go"]
    assert network.connections == [PUBLIC_IP]


async def test_a_redirect_to_a_malformed_url_is_refused(server: Server) -> None:
    """The audit's repro: this Location crashed the fetch job with a traceback (a 500-like
    `internal error`, retried five times) instead of a refusal."""
    server.routes["/go"] = redirect("http:\\\\127.0.0.1\\x")
    with pytest.raises(UrlNotAllowed, match="not a valid URL"):
        await fetch_url(f"{server.base}/go", limits=LIMITS, guard=LOOPBACK)
    assert server.paths == ["/go"]


async def test_too_many_redirects(server: Server) -> None:
    server.routes["/loop"] = redirect("/loop")
    limits = FetchLimits(total_seconds=5, max_redirects=3)

    with pytest.raises(TooManyRedirects) as caught:
        await fetch_url(f"{server.base}/loop", limits=limits, guard=LOOPBACK)

    assert caught.value.code == "too_many_redirects"
    assert server.paths == ["/loop"] * 4  # the first request and three redirects


# -- the address guard ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1/", "10.0.0.1 is private"),
        ("http://172.16.8.1/", "172.16.8.1 is private"),
        ("http://192.168.1.1:8080/", "192.168.1.1 is private"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local"),
        ("http://100.64.0.1/", "100.64.0.1 is carrier-grade NAT"),
        ("http://127.0.0.1/", "127.0.0.1 is loopback"),
        ("http://2130706433/", "127.0.0.1 is loopback"),
        ("http://0177.0.0.1/", "127.0.0.1 is loopback"),
        ("http://0x7f.1/", "127.0.0.1 is loopback"),
        ("http://127.1/", "127.0.0.1 is loopback"),
        ("http://0x0a.0.0.1/", "10.0.0.1 is private"),
        ("http://[::1]/", "::1 is loopback"),
        ("http://[::ffff:127.0.0.1]/", "127.0.0.1, which is loopback"),
        ("http://[fd00::1]/", "fd00::1 is private"),
        ("http://[fe80::1]/", "fe80::1 is link-local"),
        ("http://localhost/", "host localhost is loopback"),
        ("http://LocalHost./x", "host localhost is loopback"),
        ("http://app.localhost/", "host app.localhost is loopback"),
        ("http://0.0.0.0/", "0.0.0.0 is unspecified"),
        ("http://[::]/", ":: is unspecified"),
        ("http://224.0.0.1/", "224.0.0.1 is multicast"),
        ("http://240.0.0.1/", "240.0.0.1 is reserved"),
        ("http://metadata.google.internal/", "is a cloud metadata service"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("ftp://example.com/file", "scheme 'ftp' is not allowed"),
        ("http://user:pw@example.com/", "user name or password"),
        ("http://example.com:abc/", "not a valid URL: Invalid port"),
        ("http://xn--/", "host xn-- is not a valid host name"),
    ],
)
async def test_blocked_urls_are_refused_before_any_lookup_or_connection(
    network: FakeNetwork, url: str, reason: str
) -> None:
    with pytest.raises(UrlNotAllowed, match=re.escape(reason)) as caught:
        await network.fetch(url)
    assert caught.value.code == "url_not_allowed"
    assert network.lookups == []
    assert network.connections == []


async def test_loopback_is_refused_unless_allowed(server: Server) -> None:
    server.routes["/page"] = respond(body=b"local")
    with pytest.raises(UrlNotAllowed, match=re.escape("address 127.0.0.1 is loopback")):
        await fetch_url(f"{server.base}/page", limits=LIMITS)
    assert server.requests == []
    doc = await fetch_url(f"{server.base}/page", limits=LIMITS, guard=LOOPBACK)
    assert doc.content == b"local"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::a00:1", "a form of 10.0.0.1, which is private"),
        ("2002:7f00:1::", "a form of 127.0.0.1, which is loopback"),
        ("192.0.0.192", "reserved for IETF protocols"),
        ("198.18.0.1", "reserved for benchmarking"),
        ("192.0.2.1", "not publicly routable"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("fd00:ec2::254", "private"),
        ("0.1.2.3", "'this network'"),
    ],
)
def test_guard_judges_addresses(address: str, reason: str | None) -> None:
    assert AddressGuard().refusal(ipaddress.ip_address(address)) == reason


def test_allowing_loopback_allows_nothing_else() -> None:
    guard = AddressGuard(allow_loopback=True)
    assert guard.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert guard.refusal(ipaddress.ip_address("::1")) is None
    assert guard.refusal(ipaddress.ip_address("10.0.0.1")) == "private"
    assert guard.refusal(ipaddress.ip_address("169.254.169.254")) == "link-local"


def test_canonical_url_rewrites_only_legacy_ipv4_hosts() -> None:
    assert canonical_url("http://u@0x7f.1:81/a?b") == "http://u@127.0.0.1:81/a?b"
    assert canonical_url("http://2130706433/") == "http://127.0.0.1/"
    assert canonical_url("http://example.com/0x7f.1") == "http://example.com/0x7f.1"
    assert canonical_url("http://[::1]/") == "http://[::1]/"


# -- DNS: every address checked, and connections pinned to the checked ones -------------------


async def test_a_name_resolving_to_a_private_address_is_refused(network: FakeNetwork) -> None:
    network.answers["internal.example"] = [["10.1.2.3"]]
    with pytest.raises(UrlNotAllowed, match=r"10\.1\.2\.3 is private \(host internal.example"):
        await network.fetch("http://internal.example/")
    assert network.connections == []


async def test_one_blocked_address_in_the_answer_refuses_the_host(network: FakeNetwork) -> None:
    network.answers["mixed.example"] = [[PUBLIC_IP, "127.0.0.1"]]
    with pytest.raises(UrlNotAllowed, match=re.escape("127.0.0.1 is loopback")):
        await network.fetch("http://mixed.example/")
    assert network.connections == []


async def test_dns_rebinding_cannot_move_the_connection(
    server: Server, network: FakeNetwork
) -> None:
    """The second lookup would answer 127.0.0.1; the fetch never asks it again, and the
    redirect's new connection goes to the address that was checked."""
    network.answers["rebind.example"] = [[PUBLIC_IP], ["127.0.0.1"]]
    server.routes["/start"] = redirect("/page")
    server.routes["/page"] = respond(body=b"public content")

    doc = await network.fetch("http://rebind.example/start", guard=AddressGuard())

    assert doc.content == b"public content"
    assert network.lookups == ["rebind.example"]
    assert network.connections == [PUBLIC_IP, PUBLIC_IP]  # each response closed its connection
    assert server.requests[1][1]["host"] == "rebind.example"
    # The resolver really does rebind: a new fetch looks again and is refused.
    with pytest.raises(UrlNotAllowed, match=re.escape("127.0.0.1 is loopback")):
        await network.fetch("http://rebind.example/page")
    assert network.connections == [PUBLIC_IP, PUBLIC_IP]


# -- TLS: the connection is pinned, the name is still what TLS checks -------------------------


@dataclass
class Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext
    sni: list[str | None]


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    """A self-signed certificate for public.example; the client trusts only it. Built in a
    sync fixture because loading a certificate chain reads files."""
    pytest.importorskip("cryptography", reason="cryptography makes the test certificate")
    pem, key_pem = _self_signed("public.example")
    (tmp_path / "cert.pem").write_bytes(pem + key_pem)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "cert.pem")
    sni: list[str | None] = []
    server.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    return Tls(server, ssl.create_default_context(cadata=pem.decode()), sni)


def _self_signed(name: str) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.mark.parametrize(("host", "works"), [("public.example", True), ("other.example", False)])
async def test_https_connects_to_the_pinned_address_but_verifies_the_name(
    tls: Tls, monkeypatch: pytest.MonkeyPatch, host: str, works: bool
) -> None:
    monkeypatch.setattr(fetch_module, "_default_ssl_context", lambda: tls.client)
    async with serving(tls.server) as state:
        state.routes["/page"] = respond(body=b"secret-free")
        network = FakeNetwork(state, {host: [[PUBLIC_IP]]})
        if works:
            doc = await network.fetch(f"https://{host}/page")
            assert doc.content == b"secret-free"
            assert state.requests[0][1]["host"] == host
        else:
            with pytest.raises(FetchFailed, match="CERTIFICATE_VERIFY_FAILED"):
                await network.fetch(f"https://{host}/page")
    assert network.connections == [PUBLIC_IP]
    assert tls.sni == [host]


# -- caps -------------------------------------------------------------------------------------


async def test_declared_length_over_the_cap_is_refused_before_reading(server: Server) -> None:
    flood = Flood(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG)
    server.routes["/big"] = flood

    with pytest.raises(TooLarge, match=f"{BIG} bytes") as caught:
        await fetch_url(f"{server.base}/big", limits=_capped(100_000), guard=LOOPBACK)

    assert caught.value.code == "too_large"
    await _assert_client_stopped_early(flood)


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "until-close"])
async def test_body_over_the_cap_without_a_length_stops_the_download(
    server: Server, chunked: bool
) -> None:
    framing = b"Transfer-Encoding: chunked\r\n" if chunked else b"Connection: close\r\n"
    flood = Flood(b"HTTP/1.1 200 OK\r\n" + framing + b"\r\n", chunked=chunked)
    server.routes["/stream"] = flood

    with pytest.raises(TooLarge, match="larger than the 100000 byte limit"):
        await fetch_url(f"{server.base}/stream", limits=_capped(100_000), guard=LOOPBACK)

    await _assert_client_stopped_early(flood)


async def test_a_compression_bomb_is_stopped_by_the_decoded_size(server: Server) -> None:
    assert len(BOMB) < 100_000  # small on the wire, 32 MiB once inflated
    server.routes["/bomb"] = respond(body=BOMB, headers=("Content-Encoding: gzip",))
    with pytest.raises(TooLarge):
        await fetch_url(f"{server.base}/bomb", limits=_capped(1_000_000), guard=LOOPBACK)


def _capped(max_bytes: int) -> FetchLimits:
    return FetchLimits(max_bytes=max_bytes, total_seconds=5, read_seconds=2)


async def _assert_client_stopped_early(flood: Flood) -> None:
    async with asyncio.timeout(5):
        await flood.done.wait()
    assert flood.client_stopped
    assert flood.sent < BIG


async def test_a_silent_server_hits_the_read_timeout(server: Server) -> None:
    async def silent(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    server.routes["/silent"] = silent
    limits = FetchLimits(total_seconds=5, read_seconds=0.2)
    started = time.monotonic()

    with pytest.raises(FetchTimeout, match="did not answer in time") as caught:
        await fetch_url(f"{server.base}/silent", limits=limits, guard=LOOPBACK)

    assert caught.value.code == "timeout"
    assert time.monotonic() - started < 2


async def test_a_trickling_server_hits_the_total_deadline(server: Server) -> None:
    async def trickle(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)

    server.routes["/trickle"] = trickle
    limits = FetchLimits(total_seconds=0.5, read_seconds=2)
    started = time.monotonic()

    with pytest.raises(FetchTimeout, match=r"longer than 0\.5 s"):
        await fetch_url(f"{server.base}/trickle", limits=limits, guard=LOOPBACK)

    assert time.monotonic() - started < 2


# -- failures ---------------------------------------------------------------------------------


async def test_an_error_status_is_fetch_failed_with_the_status(server: Server) -> None:
    with pytest.raises(FetchFailed, match="answered 404 Not Found") as caught:
        await fetch_url(f"{server.base}/missing", limits=LIMITS, guard=LOOPBACK)
    assert caught.value.code == "fetch_failed"
    assert caught.value.status == 404
    assert caught.value.details == {"url": f"{server.base}/missing", "status": 404}


async def test_a_refused_connection_is_fetch_failed() -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()

    with pytest.raises(FetchFailed, match=re.escape("could not fetch from 127.0.0.1")) as caught:
        await fetch_url(f"http://127.0.0.1:{port}/", limits=LIMITS, guard=LOOPBACK)
    assert caught.value.status is None


def test_errors_carry_stable_codes_and_http_statuses() -> None:
    assert issubclass(UrlNotAllowed, InvalidInput)
    table = {
        cls.code: cls.status_code
        for cls in (UrlNotAllowed, TooLarge, FetchTimeout, TooManyRedirects, FetchFailed)
    }
    assert table == {
        "url_not_allowed": 422,
        "too_large": 422,
        "timeout": 504,
        "too_many_redirects": 502,
        "fetch_failed": 502,
    }
    assert all(issubclass(cls, FetchError) for cls in (UrlNotAllowed, FetchFailed))
