"""Download a web page or file for ingestion without letting the URL reach inside our network.

A user-supplied URL is a server-side request forgery vector: it can name loopback services, the
private network or the cloud metadata endpoint, directly, through a redirect, through odd IPv4
spellings (`2130706433`, `0x7f.1`), or through a DNS answer that changes between our check and
our connect (rebinding). So:

* every hop (the first URL and each redirect) passes `AddressGuard.check_url`: http/https only,
  no credentials, no metadata or localhost names, literal addresses judged as written;
* each host is resolved once per fetch, every address it resolves to is judged, and connections
  go to those checked addresses only (`client._PinningBackend`); the Host header, TLS SNI and the
  certificate check still use the original name, because httpcore takes them from the URL;
* one deadline covers the whole fetch, and the body is counted while it streams, after
  decompression done here in bounded steps, so neither a lying Content-Length nor a gzip bomb
  gets past the size cap.
"""

from learningtool.fetch.client import (
    ClientFactory,
    Connector,
    FetchedDocument,
    FetchLimits,
    Resolver,
    default_client,
    fetch_url,
    system_resolver,
    tcp_connector,
)
from learningtool.fetch.errors import (
    FetchError,
    FetchFailed,
    FetchTimeout,
    TooLarge,
    TooManyRedirects,
    UrlNotAllowed,
)
from learningtool.fetch.guard import (
    LOOPBACK_HINT,
    METADATA_HOSTNAMES,
    AddressGuard,
    IPAddress,
    canonical_url,
    literal_address,
)

__all__ = [
    "LOOPBACK_HINT",
    "METADATA_HOSTNAMES",
    "AddressGuard",
    "ClientFactory",
    "Connector",
    "FetchError",
    "FetchFailed",
    "FetchLimits",
    "FetchTimeout",
    "FetchedDocument",
    "IPAddress",
    "Resolver",
    "TooLarge",
    "TooManyRedirects",
    "UrlNotAllowed",
    "canonical_url",
    "default_client",
    "fetch_url",
    "literal_address",
    "system_resolver",
    "tcp_connector",
]
