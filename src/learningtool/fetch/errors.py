"""The fetch errors: each has a stable `code` and a message safe to show the user."""

from __future__ import annotations

from typing import Any

from learningtool.errors import AppError, InvalidInput


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
