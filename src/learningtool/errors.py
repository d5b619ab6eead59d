"""Application errors and the one JSON error shape every response uses.

    AppError                 (500 internal_error)
    ├── NotFound             (404 not_found)
    ├── Conflict             (409 conflict)
    ├── InvalidInput         (422 invalid_input)
    ├── Unauthorized         (401 unauthorized)
    ├── PayloadTooLarge      (413 payload_too_large)
    ├── UnsupportedMediaType (415 unsupported_media_type)
    ├── TooManyRequests      (429 too_many_requests, with Retry-After)
    ├── ServiceUnavailable   (503 unavailable)
    └── InsufficientStorage  (507 insufficient_storage)

Services raise these; `install_error_handlers` maps them to
`{"error": {"code", "message", "details"}}`. Anything else becomes a 500 whose body says only
"internal error": stack traces and server paths go to the log, never to the client.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from learningtool.asgi import HttpMiddleware

log = structlog.get_logger(__name__)


class AppError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class InvalidInput(AppError):
    status_code = 422
    code = "invalid_input"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class ServiceUnavailable(AppError):
    status_code = 503
    code = "unavailable"


class InsufficientStorage(AppError):
    status_code = 507
    code = "insufficient_storage"


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    return _response(exc.status_code, exc.code, exc.message, exc.details, headers)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers) if exc.headers else None
    return _response(exc.status_code, code, message, headers=headers)


async def _busy(_request: Request, exc: Exception) -> JSONResponse:
    """No database connection came free in time: the server is overloaded, not broken."""
    log.warning("database_pool_exhausted", error=str(exc)[:200])
    return _response(
        503, "unavailable", "the server is busy; try again shortly", headers={"Retry-After": "5"}
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": [str(p) for p in err.get("loc", ())], "message": err.get("msg", "")}
        for err in exc.errors()
    ]
    return _response(422, "invalid_input", "request is not valid", {"errors": problems})


class UnexpectedErrors(HttpMiddleware):
    """Pure ASGI middleware: any other exception becomes the JSON 500 and goes to the log.

    Starlette's own handler for `Exception` answers and then raises again, and the server
    closes the connection on that; a pooled client's next, unrelated request on the same
    connection then failed too. Here the error ends with the answer, and the connection stays
    usable. A response already under way cannot be replaced: that error propagates.

    `reraise` (tests) answers and then raises as well, so that a test client that raises
    app exceptions sees every bug, a blocking call caught by the guard included."""

    def __init__(self, app: ASGIApp, reraise: bool = False) -> None:
        super().__init__(app)
        self.reraise = reraise

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as error:
            log.error("unhandled_error", path=scope.get("path"), exc_info=error)
            if started:
                raise
            response = _response(500, "internal_error", "internal error")
            await response(scope, receive, send)
            if self.reraise:
                raise


def install_error_handlers(app: FastAPI, *, reraise: bool = False) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(PoolTimeout, _busy)
    app.add_middleware(UnexpectedErrors, reraise=reraise)
