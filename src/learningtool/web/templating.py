"""Rendering pages: the Jinja2 templates of this package, read once at import (a template
read from disk on the first request would block the event loop), autoescaped, and each page
sent with its security headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

HTMX_VERSION = "2.0.11"  # static/vendor/htmx/SOURCE.md
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PATH = "/assets"

# Scripts, styles, images and requests from this server only; no inline script or style, no
# framing, forms post only here.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Not the API's `no-referrer`: with it a browser sends `Origin: null` on our own form
    # posts, which the origin check (`auth`) cannot tell from an opaque foreign one.
    "Referrer-Policy": "same-origin",
    # Pages hold a user's notebooks and the session's CSRF token: never kept by a cache.
    "Cache-Control": "no-store",
}


def _load(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(folder.rglob("*.html"))
    }


environment = Environment(
    loader=DictLoader(_load(TEMPLATES_DIR)),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.globals["assets"] = ASSETS_PATH


def render_part(request: Request, template: str, context: dict[str, Any]) -> str:
    """A fragment (no page around it), as sent in a server-sent event."""
    values = {
        "request": request,
        "csrf_token": getattr(request.state, "csrf_token", ""),
        **context,
    }
    return environment.get_template(template).render(values)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """`template` with `context`, plus what every page shows: the signed-in user and the
    session's CSRF token (both set by `auth` when the request has a session)."""
    values = {
        "request": request,
        "user": getattr(request.state, "user", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        **(context or {}),
    }
    body = environment.get_template(template).render(values)
    return HTMLResponse(body, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})})
