"""HTTP routes of the knowledge base: fused search, the graph view, the Markdown export."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from learningtool.deps import AppDep, SessionDep
from learningtool.knowledge import export, search
from learningtool.knowledge.schemas import GraphRead, PassageRead, SearchResults
from learningtool.notebook.deps import NotebookDep

router = APIRouter(prefix="/notebooks/{notebook_id}", tags=["knowledge"])


@router.get("/search")
async def search_notebook(
    notebook: NotebookDep,
    session: SessionDep,
    app: AppDep,
    q: Annotated[str, Query(min_length=1, max_length=2000)],
    k: Annotated[int, Query(ge=1, le=50)] = 10,
    mode: search.Mode = "hybrid",
    purpose: search.Purpose = "retrieval",
) -> SearchResults:
    """Passages for `q`, fused from the lexical, vector and graph indexes (`mode`), with
    the notebook's exclusions for `purpose` applied."""
    passages = await search.search(
        session, app.retriever, notebook.id, q, k=k, mode=mode, purpose=purpose
    )
    return SearchResults(query=q, mode=mode, passages=[PassageRead(**asdict(p)) for p in passages])


@router.get("/graph")
async def graph(
    notebook: NotebookDep,
    app: AppDep,
    entity: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = 200,
) -> GraphRead:
    """Entities (with their degree) and relations, for a viewer; `entity` narrows the view
    to that entity's neighbourhood."""
    if app.graph is None:
        return GraphRead(entities=[], relations=[])
    view = await app.graph.graph(notebook.id, entity=entity, limit=limit)
    return GraphRead.model_validate({"entities": view.entities, "relations": view.relations})


@router.get("/export", response_class=PlainTextResponse)
async def export_markdown(notebook: NotebookDep, session: SessionDep) -> PlainTextResponse:
    """The notebook as one Markdown document."""
    body = await export.notebook_markdown(session, notebook)
    filename = export.filename(notebook.name)
    return PlainTextResponse(
        body,
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
