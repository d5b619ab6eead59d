"""The one shape of the app's pure ASGI middlewares (security headers, request metrics,
unexpected errors): they act on HTTP requests only, and everything else (the lifespan) goes
straight to the app. Pure ASGI rather than Starlette's `BaseHTTPMiddleware`, so that streamed
responses (server-sent events) pass through untouched."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware:
    """Calls `http` for an HTTP request, and the wrapped app directly for any other scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError
