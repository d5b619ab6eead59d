"""`GET /docs`: Swagger UI over the app's OpenAPI document, every asset from this package
(`static/`, mounted at `ASSETS_PATH`)."""

from __future__ import annotations

import mimetypes
from html import escape
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_UI_VERSION = "5.35.0"  # static/swagger-ui/SOURCE.md
STATIC_DIR = Path(__file__).parent / "static"
DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"

# Swagger UI sets style attributes and reads its document with fetch from this server; its
# one script and the starter are files from this server, never inline.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

# The first content-type guess reads the system's MIME tables from disk: done at import,
# not on the event loop by the first asset request.
mimetypes.init()

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} API</title>
<link rel="stylesheet" href="{assets}/swagger-ui/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/swagger-ui/favicon-32x32.png">
<script src="{assets}/swagger-ui/swagger-ui-bundle.js" defer></script>
<script src="{assets}/docs.js" defer></script>
</head>
<body data-openapi="{openapi}">
<div id="swagger-ui"></div>
<noscript>The API documentation needs JavaScript; the raw schema is at
<a href="{openapi}">{openapi}</a>.</noscript>
</body>
</html>
"""


@router.get(DOCS_PATH, response_class=HTMLResponse)
async def docs(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = _PAGE.format(
        title=escape(request.app.title),
        assets=escape(f"{root}{ASSETS_PATH}"),
        openapi=escape(f"{root}{request.app.openapi_url}"),
    )
    return HTMLResponse(page, headers={"Content-Security-Policy": DOCS_CSP})


def assets() -> StaticFiles:
    """The files the page loads, mounted by the app at `ASSETS_PATH` (the directory is not
    checked here: `create_app` may run on an event loop; a test fetches every asset)."""
    return StaticFiles(directory=STATIC_DIR, check_dir=False)
