"""The settings page: which engines this server uses, and the user's API tokens (list, create,
rotate, revoke).

The engines are read from the running app (its settings and context), so the page says what
is really in use (a `local` embedder without its model runs as hashing, and says so); never a
key, and of a configured server only its host (an address may carry credentials).

Tokens go through the user service and the kept token file, as `/api/v1/me` does: a new or
rotated token is shown once, on the answer to the form that made it (never stored in clear,
never in a URL); rotating the local token kept in the data directory writes the new one
there, so the command line keeps working. A page session is not a token: revoking every token
leaves the browser signed in."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Path, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.account import token_file
from learningtool.deps import AppDep, SessionDep
from learningtool.errors import NotFound
from learningtool.knowledge.embed.errors import EmbeddingError
from learningtool.models import ApiToken, User
from learningtool.user import service as user_service
from learningtool.web.auth import ChangingUser, PageRoute, PageUser
from learningtool.web.templating import render

if TYPE_CHECKING:
    from learningtool.context import AppContext

router = APIRouter(route_class=PageRoute, include_in_schema=False)

TokenId = Annotated[str, Path(max_length=64)]
LLM_WORDS = {"openai": "OpenAI-compatible", "anthropic": "Anthropic", "gemini": "Gemini"}
EMBEDDER_WORDS = {
    "local": "Packaged local model",
    "openai": "OpenAI-compatible server",
    "ollama": "Ollama",
}
SEARCH_WORDS = {"searxng": "SearXNG", "tavily": "Tavily", "duckduckgo": "DuckDuckGo"}


@dataclass(frozen=True)
class Engine:
    """One line of the engines list: what it does, what is in use, and what that means."""

    role: str
    name: str
    note: str


def _host(url: str | None) -> str:
    """The host (and port) of a configured address: never its user, password or query."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f" at {host}:{parts.port}" if host and parts.port else (f" at {host}" if host else "")


def _llm(app: AppContext) -> Engine:
    settings = app.settings
    if app.llm is None:
        note = (
            "No language model is configured: cards, summaries, answers and reports are "
            "made from your sources' own sentences (LEARNINGTOOL_LLM_PROVIDER sets one)."
        )
        return Engine("Language model", "Offline engine", note)
    provider = LLM_WORDS.get(settings.llm_provider, "A language model")
    model = settings.llm_model or "its default model"
    note = "Cards, summaries, answers and reports are written by this model."
    return Engine("Language model", f"{provider}: {model}{_host(settings.llm_base_url)}", note)


def _embedder(app: AppContext) -> Engine:
    settings = app.settings
    try:
        name = app.embedder.name
    except EmbeddingError:  # a server's dimension not asked for yet
        name = f"{settings.embedding_provider}:{settings.embedding_model or ''}"
    if name.startswith("hashing"):
        note = "No embedding model: search matches words and word pairs, not meaning."
        if settings.embedding_provider == "local":
            note += " The packaged model is not installed (the `embed` extra)."
        return Engine("Embedder", "Hashing (no model)", note)
    words = EMBEDDER_WORDS.get(settings.embedding_provider, settings.embedding_provider)
    model = settings.embedding_model or name.split(":")[1]
    host = _host(settings.embedding_base_url) if settings.embedding_provider != "local" else ""
    note = "Search finds passages by meaning."
    return Engine("Embedder", f"{words}: {model}{host}", note)


def _graph(app: AppContext) -> Engine:
    if app.graph is None:
        note = "No knowledge graph is kept (LEARNINGTOOL_GRAPH_ENABLED turns it on)."
        return Engine("Knowledge graph", "Off", note)
    return Engine("Knowledge graph", "On", "Each notebook keeps a graph of its entities.")


def _web_search(app: AppContext) -> Engine:
    settings = app.settings
    if settings.web_search_provider == "none":
        note = "Research uses your sources only: nothing is searched on the web."
        return Engine("Web search", "Off", note)
    name = SEARCH_WORDS.get(settings.web_search_provider, settings.web_search_provider)
    note = "Research may search the web and read the pages it finds."
    return Engine("Web search", name + _host(settings.web_search_base_url), note)


def engines(app: AppContext) -> list[Engine]:
    return [_llm(app), _embedder(app), _graph(app), _web_search(app)]


def when(moment: datetime | None) -> str:
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC" if moment else "never"


def _kept_hash(path: FilePath) -> str | None:
    """The hash of the token kept in the data directory, to mark it in the list. Run in a
    thread: it reads a file."""
    try:
        kept = path.read_text().strip()
    except (FileNotFoundError, PermissionError):
        return None
    return user_service.hash_token(kept) if kept else None


async def _owned_token(session: AsyncSession, user: User, token_id: str) -> ApiToken:
    """One of the user's tokens; another user's is a 404, as an unknown one."""
    for token in await user_service.list_tokens(session, user):
        if token.id == token_id:
            return token
    raise NotFound("token not found")


@router.get("/settings")
async def settings_page(
    request: Request, session: SessionDep, app: AppDep, user: PageUser, revoked: bool = False
) -> Response:
    tokens = await user_service.list_tokens(session, user)
    kept = await asyncio.to_thread(_kept_hash, app.settings.token_file)
    context = {
        "engines": engines(app),
        "tokens": tokens,
        "kept": kept,
        "when": when,
        "revoked": revoked,
    }
    return render(request, "settings.html", context)


def _issued_page(request: Request, token: str, name: str, *, rotated: bool, kept: bool) -> Response:
    context = {"token": token, "name": name, "rotated": rotated, "kept": kept}
    return render(request, "token_issued.html", context)


@router.post("/settings/tokens")
async def create_token(
    request: Request,
    session: SessionDep,
    user: ChangingUser,
    name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """A new token (for another program or machine), shown this once."""
    label = name.strip() or "web"
    token = await user_service.issue_token(session, user, name=label)
    return _issued_page(request, token, label, rotated=False, kept=False)


@router.post("/settings/tokens/{token_id}/rotate")
async def rotate_token(
    request: Request, session: SessionDep, app: AppDep, user: ChangingUser, token_id: TokenId
) -> Response:
    """Replace a token by a new one, shown this once; the old one stops working at once.
    The kept copy in the data directory changes only once the new token is committed."""
    old = await _owned_token(session, user, token_id)
    revoked = {old.token_hash}
    issued, token = await user_service.rotate_token(session, user, old.id)
    name = issued.name
    await session.commit()
    kept = await asyncio.to_thread(token_file.replace_kept, app.settings.token_file, revoked, token)
    return _issued_page(request, token, name, rotated=True, kept=kept)


@router.get("/settings/tokens/{token_id}/revoke")
async def revoke_page(
    request: Request, session: SessionDep, app: AppDep, user: PageUser, token_id: TokenId
) -> Response:
    """The confirmation: which token, and what stops working with it."""
    token = await _owned_token(session, user, token_id)
    kept = await asyncio.to_thread(_kept_hash, app.settings.token_file)
    context = {"token": token, "kept": kept == token.token_hash, "when": when}
    return render(request, "token_revoke.html", context)


@router.post("/settings/tokens/{token_id}/revoke")
async def revoke(session: SessionDep, user: ChangingUser, token_id: TokenId) -> Response:
    await user_service.revoke_token(session, user, token_id)
    return RedirectResponse("/settings?revoked=true", status_code=303)
