"""Preferred domains: they only reorder results (a filter would leave a question the
preferred sites do not answer with nothing)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from learningtool.research.web.results import WebResult

if TYPE_CHECKING:
    pass


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


def unique(results: Iterable[WebResult]) -> list[WebResult]:
    """http(s) results with a host, each URL once (its first, best, position)."""
    seen: set[str] = set()
    kept = []
    for result in results:
        if is_web_url(result.url) and result.url not in seen:
            seen.add(result.url)
            kept.append(result)
    return kept


def is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
