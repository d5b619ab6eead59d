"""`/docs` works with no internet: every script, style and image it names is served by the
app itself, no script runs inline, and the policy says so."""

from __future__ import annotations

import re

from httpx import AsyncClient

from tests.conftest import Api


def _references(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


async def test_the_docs_page_loads_everything_from_the_app(api: Api) -> None:
    async with api.client() as browser:  # the page itself needs no token
        page = await browser.get("/docs")
        assert page.status_code == 200
        html = page.text
        assert "<script>" not in html and "onload=" not in html  # nothing inline
        references = _references(html)
        assert references and all(r.startswith("/") for r in references), references
        for reference in references:
            asset = await browser.get(reference)
            assert asset.status_code == 200, reference
            assert "Content-Security-Policy" in asset.headers
        bundle = await browser.get("/docs/assets/swagger-ui/swagger-ui-bundle.js")
        assert "SwaggerUIBundle" in bundle.text
        assert bundle.headers["content-type"].startswith(
            ("text/javascript", "application/javascript")
        )
        licence = await browser.get("/docs/assets/swagger-ui/LICENSE")
        assert "Apache License" in licence.text
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("style-src")[0]
    assert "frame-ancestors 'none'" in policy
    assert page.headers["X-Frame-Options"] == "DENY"


async def test_the_starter_reads_the_schema_the_page_names(client: AsyncClient) -> None:
    page = (await client.get("/docs")).text
    openapi = re.search(r'data-openapi="([^"]+)"', page)
    assert openapi is not None
    schema = await client.get(openapi.group(1))
    assert schema.status_code == 200 and schema.json()["info"]["title"] == "LearningTool"
    starter = (await client.get("/docs/assets/docs.js")).text
    assert "document.body.dataset.openapi" in starter


async def test_nothing_outside_the_assets_is_served(client: AsyncClient) -> None:
    for path in ("/docs/assets/../router.py", "/docs/assets/%2e%2e/router.py", "/redoc"):
        assert (await client.get(path)).status_code == 404, path
