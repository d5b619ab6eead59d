"""A notebook's knowledge graph: its entities and the relations between them, drawn by
`static/graph.js` (SVG, a small force layout; a click or Enter on a node loads that node's
neighbourhood from `/graph/data`) and listed as plain links for readers without the script
and for screen readers. An entity's page (`?entity=`) shows its neighbourhood and the
passages that mention it: a lexical search of the notebook for its name, each hit linked to
the passage page with the mention highlighted.

`app.graph` is None when the server runs without a graph (`LEARNINGTOOL_GRAPH_ENABLED`):
the page says so. A graph that fails (its worker process is down or busy) is said in words,
as an entity the graph does not know is (with the names that come closest)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.deps import AppDep, SessionDep
from learningtool.knowledge import search
from learningtool.knowledge.graph import GraphError, GraphView
from learningtool.models import Notebook, User
from learningtool.notebook import service as notebook_service
from learningtool.web.auth import PageRoute, PageUser
from learningtool.web.chat_view import passage_href
from learningtool.web.sources import in_context
from learningtool.web.templating import PAGE_HEADERS, render

if TYPE_CHECKING:
    from learningtool.context import AppContext

router = APIRouter(route_class=PageRoute, include_in_schema=False)

NotebookId = Annotated[str, Path(max_length=64)]
Entity = Annotated[str, Query(max_length=200)]
OVERVIEW = 60  # entities drawn before any is chosen: the best connected
AROUND = 30  # an entity and its closest neighbours
SUGGESTIONS = 12
MENTIONS = 10
MENTION_REACH = 160  # characters shown around a mention
DISABLED = (
    "The knowledge graph is turned off on this server, so there is nothing to show here. "
    "Search, chat and study work without it. To have one, run the server with "
    "LEARNINGTOOL_GRAPH_ENABLED=true (the default): sources are added to the graph as they "
    "are indexed."
)


@dataclass
class Mention:
    """A passage that mentions the entity: its source, where, and the words around it."""

    title: str
    href: str
    parts: list[str]  # before, the mention, after


async def _owned(session: AsyncSession, user: User, notebook_id: str) -> Notebook:
    """Another user's notebook is a 404, as an unknown one (never a 403)."""
    return await notebook_service.get_notebook(session, owner_id=user.id, notebook_id=notebook_id)


def _unavailable(error: GraphError) -> str:
    return (
        "The knowledge graph is not answering just now (" + error.message.rstrip(".") + "). "
        "Try again in a moment."
    )


async def _view(app: AppContext, notebook_id: str, entity: str) -> GraphView:
    """The overview, or `entity`'s neighbourhood (empty when the graph does not know it)."""
    assert app.graph is not None
    if entity:
        return await app.graph.graph(notebook_id, entity=entity, limit=AROUND)
    return await app.graph.graph(notebook_id, limit=OVERVIEW)


def as_data(view: GraphView, center: str | None) -> dict[str, Any]:
    """What the page's script draws (and `/graph/data` sends for a node's neighbourhood)."""
    return {
        "center": center,
        "entities": [
            {"name": e["name"], "type": e.get("type", ""), "degree": e.get("degree", 0)}
            for e in view.entities
        ],
        "relations": [
            {"source": r["source"], "target": r["target"], "weight": r.get("weight", 1.0)}
            for r in view.relations
        ],
    }


async def _suggestions(app: AppContext, notebook_id: str, entity: str) -> list[str]:
    """Entities whose name shares a word with what was searched, best connected first."""
    assert app.graph is not None
    words = {w for w in re.findall(r"\w+", entity.lower()) if len(w) > 2}
    if not words:
        return []
    everything = await app.graph.graph(notebook_id, limit=2000)
    return [
        e["name"] for e in everything.entities if words & set(re.findall(r"\w+", e["name"].lower()))
    ][:SUGGESTIONS]


def mention_span(text: str, name: str) -> tuple[int, int] | None:
    """Where `name` (a normalised key phrase) occurs in `text`, its words in any case and
    with any ending ("calvin cycle" finds "Calvin cycles"); None when it does not."""
    words = re.findall(r"\w+", name)
    if not words:
        return None
    pattern = r"\b" + r"\w*\W+".join(re.escape(w) for w in words) + r"\w*"
    found = re.search(pattern, text, re.IGNORECASE)
    return (found.start(), found.end()) if found else None


async def mentions(
    session: AsyncSession, app: AppContext, notebook_id: str, name: str
) -> list[Mention]:
    """The notebook's passages that name the entity (lexical search on its name), each
    linked to the passage page with the mention (or the whole passage) highlighted."""
    passages = await search.search(
        session, app.retriever, notebook_id, name, k=MENTIONS, mode="lexical"
    )
    found = []
    for passage in passages:
        span = mention_span(passage.text, name) or (0, len(passage.text))
        start, end = passage.start_char + span[0], passage.start_char + span[1]
        found.append(
            Mention(
                title=passage.source_title or "Untitled",
                href=passage_href(notebook_id, passage.source_id, start, end),
                parts=in_context(passage.text, span[0], span[1], MENTION_REACH),
            )
        )
    return found


@router.get("/notebooks/{notebook_id}/graph")
async def graph_page(
    request: Request,
    session: SessionDep,
    app: AppDep,
    user: PageUser,
    notebook_id: NotebookId,
    entity: Entity = "",
) -> Response:
    """The graph drawn and listed; with `entity`, its neighbourhood and its mentions."""
    notebook = await _owned(session, user, notebook_id)
    entity = entity.strip()
    context: dict[str, Any] = {
        "notebook": notebook,
        "entity": entity,
        "disabled": DISABLED if app.graph is None else None,
        "error": None,
        "shown": GraphView(),
        "center": None,
        "suggestions": [],
        "mentions": [],
        "data": as_data(GraphView(), None),
    }
    if app.graph is None:
        return render(request, "graph.html", context)
    try:
        view = await _view(app, notebook.id, entity)
        if entity and not view.entities:
            context["suggestions"] = await _suggestions(app, notebook.id, entity)
    except GraphError as error:
        context["error"] = _unavailable(error)
        return render(request, "graph.html", context, status_code=503)
    center = view.entities[0]["name"] if entity and view.entities else None
    if center is not None:
        context["mentions"] = await mentions(session, app, notebook.id, center)
    context.update(shown=view, center=center, data=as_data(view, center))
    return render(request, "graph.html", context)


@router.get("/notebooks/{notebook_id}/graph/data")
async def graph_data(
    session: SessionDep, app: AppDep, user: PageUser, notebook_id: NotebookId, entity: Entity = ""
) -> Response:
    """An entity's neighbourhood as JSON for the page's script (`{"error"}` in words when
    there is no graph, or it fails)."""
    notebook = await _owned(session, user, notebook_id)
    if app.graph is None:
        return JSONResponse({"error": DISABLED}, status_code=404, headers=PAGE_HEADERS)
    try:
        view = await _view(app, notebook.id, entity.strip())
    except GraphError as error:
        return JSONResponse({"error": _unavailable(error)}, status_code=503, headers=PAGE_HEADERS)
    center = view.entities[0]["name"] if entity.strip() and view.entities else None
    return JSONResponse(as_data(view, center), headers=PAGE_HEADERS)
