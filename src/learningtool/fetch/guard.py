"""Which URLs and addresses a fetch may reach: the guard every hop passes (the first URL and
each redirect, and every address a host resolves to), and the spelling of legacy IPv4 hosts."""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from learningtool.fetch.errors import UrlNotAllowed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
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
