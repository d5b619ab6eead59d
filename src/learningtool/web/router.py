"""Everything the web pages add to the app: their routes (kept out of the OpenAPI schema,
which describes the API only), their assets, and the sign-in codes."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from learningtool.config import Settings
from learningtool.web import chat, feed, graph, notebooks, research, review, signin, sources, topics
from learningtool.web import settings as settings_pages
from learningtool.web.sessions import SignInCodes
from learningtool.web.templating import ASSETS_PATH, STATIC_DIR


def install(app: FastAPI, settings: Settings) -> None:
    app.state.sign_in_codes = SignInCodes(settings.sign_in_link_seconds)
    app.include_router(signin.router)
    app.include_router(notebooks.router)
    app.include_router(sources.router)
    app.include_router(feed.router)
    app.include_router(chat.router)
    app.include_router(graph.router)
    app.include_router(topics.router)
    app.include_router(research.router)
    app.include_router(review.router)
    app.include_router(settings_pages.router)
    # Not checked here: `create_app` may run on an event loop (a test fetches each asset).
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR, check_dir=False), name="web-assets")
