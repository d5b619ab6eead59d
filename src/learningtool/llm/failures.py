"""How to treat an exception raised by a model call: retry it (HTTP 408, 429 and 5xx,
timeouts, connection errors; honouring `Retry-After`), or turn it into a typed error. The
provider SDKs raise different classes, so status codes and class names are read as well."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelNotFoundError,
    ModelPermissionDeniedError,
    ModelRateLimitError,
    ModelTimeoutError,
)

from learningtool.retry import retry_after_seconds


@dataclass(frozen=True)
class Failure:
    retryable: bool
    reason: str
    status: int | None = None
    retry_after: float | None = None
    detail: str = ""
    context_overflow: bool = False


def classify(error: BaseException) -> Failure | None:
    """How to treat an exception raised by a model call; None when it is not a transport or
    endpoint failure (a bug, which must surface as it is)."""
    if isinstance(error, ContextOverflowError):
        return Failure(
            False, "the input is too long for the model's context window", context_overflow=True
        )
    status = _status_of(error)
    if status is not None and status >= 400:
        retryable = status in (408, 429) or status >= 500
        reason = "rate limited (HTTP 429)" if status == 429 else f"HTTP {status}"
        delay = retry_after_seconds(_headers_of(error)) if retryable else None
        return Failure(retryable, reason, status, delay, _message_of(error))
    return _classify_by_type(error)


def _classify_by_type(error: BaseException) -> Failure | None:
    if isinstance(error, ModelRateLimitError):
        return Failure(True, "rate limited", 429, retry_after_seconds(_headers_of(error)))
    if isinstance(error, ModelAPIError):
        return Failure(True, "server error", 500)
    if isinstance(error, (ModelTimeoutError, TimeoutError)) or _named(error, "Timeout"):
        return Failure(True, "timed out")
    if isinstance(error, (ModelConnectionError, ConnectionError)) or _named(error, "Connect"):
        return Failure(True, "connection failed")
    if isinstance(error, ModelAuthenticationError | ModelPermissionDeniedError):
        return Failure(False, "credentials refused", 401)
    if isinstance(error, ModelNotFoundError):
        return Failure(False, "model not found", 404)
    import httpx  # a dependency of every provider SDK; imported already when we get here

    if isinstance(error, httpx.TimeoutException):
        return Failure(True, "timed out")
    if isinstance(error, httpx.TransportError):
        return Failure(True, "connection failed")
    return None


def _status_of(error: BaseException) -> int | None:
    for name in ("status_code", "code", "status"):
        value = getattr(error, name, None)
        if isinstance(value, int) and 100 <= value <= 599:
            return value
    response = getattr(error, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) else None


def _headers_of(error: BaseException) -> Mapping[str, str]:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    return headers if isinstance(headers, Mapping) else {}


def _message_of(error: BaseException) -> str:
    text = getattr(error, "message", None) or str(error)
    return " ".join(str(text).split())[:300]


def _named(error: BaseException, fragment: str) -> bool:
    return any(fragment in cls.__name__ for cls in type(error).__mro__)
