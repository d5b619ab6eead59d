"""Security headers on every response (pure ASGI middleware: streams pass through).

The API answers JSON, Markdown, CSV and server-sent events, none of which a browser should
run, frame or sniff into HTML: `default-src 'none'` forbids every script, style and frame,
`nosniff` stops content-type guessing, `DENY` forbids framing, and no referrer leaves. A
page that needs more sets its own policy, which is kept (`/docs`: scripts and styles from
this server only, `learningtool.apidocs`).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from learningtool.asgi import HttpMiddleware

STRICT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON.items():
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", STRICT_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)
