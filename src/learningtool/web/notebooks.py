"""The notebooks pages: the list with counts, create, rename, delete (confirmed, then the
purge job shown until it is done)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.deps import SessionDep
from learningtool.errors import AppError
from learningtool.models import Notebook, User
from learningtool.notebook import service as notebook_service
from learningtool.web.auth import ChangingUser, PageRoute, PageUser
from learningtool.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

NotebookId = Annotated[str, Path(max_length=64)]
Name = Annotated[str, Form(max_length=200)]


async def _owned(session: AsyncSession, user: User, notebook_id: str) -> Notebook:
    """Another user's notebook is a 404, as an unknown one (never a 403)."""
    return await notebook_service.get_notebook(session, owner_id=user.id, notebook_id=notebook_id)


async def _list_page(
    request: Request,
    session: AsyncSession,
    user: User,
    *,
    error: str | None = None,
    name: str = "",
    status_code: int = 200,
) -> Response:
    notebooks = await notebook_service.list_notebooks(session, owner_id=user.id)
    counts = await notebook_service.notebook_counts(session, owner_id=user.id)
    deletions = await notebook_service.pending_deletions(session, owner_id=user.id)
    context = {
        "notebooks": notebooks,
        "counts": counts,
        "empty": notebook_service.Counts(),
        "deletions": deletions,
        "error": error,
        "name": name,
    }
    return render(request, "notebooks.html", context, status_code=status_code)


@router.get("/")
async def notebooks_page(request: Request, session: SessionDep, user: PageUser) -> Response:
    return await _list_page(request, session, user)


@router.get("/parts/deletions")
async def deletions_part(request: Request, session: SessionDep, user: PageUser) -> Response:
    """The deletions under way, polled by the list page (htmx) until none is left."""
    deletions = await notebook_service.pending_deletions(session, owner_id=user.id)
    return render(request, "_deletions.html", {"deletions": deletions})


@router.post("/notebooks")
async def create_notebook(
    request: Request, session: SessionDep, user: ChangingUser, name: Name
) -> Response:
    if not name.strip():
        return await _list_page(
            request, session, user, error="A notebook needs a name.", status_code=422
        )
    try:
        await notebook_service.create_notebook(session, owner_id=user.id, name=name)
    except AppError as error:  # the service's savepoint rolled back; the session is usable
        return await _list_page(
            request, session, user, error=_sentence(error), name=name, status_code=error.status_code
        )
    return RedirectResponse("/", status_code=303)


@router.get("/notebooks/{notebook_id}/rename")
async def rename_page(
    request: Request, session: SessionDep, user: PageUser, notebook_id: NotebookId
) -> Response:
    notebook = await _owned(session, user, notebook_id)
    context = {"notebook": notebook, "name": notebook.name, "error": None}
    return render(request, "rename.html", context)


@router.post("/notebooks/{notebook_id}/rename")
async def rename(
    request: Request, session: SessionDep, user: ChangingUser, notebook_id: NotebookId, name: Name
) -> Response:
    notebook = await _owned(session, user, notebook_id)
    error = None if name.strip() else "A notebook needs a name."
    if error is None:
        try:
            await notebook_service.update_notebook(session, notebook, name=name, description=None)
        except AppError as failure:
            error = _sentence(failure)
    if error is not None:
        # The refused name stays on the row in memory, and the next query would flush it
        # again: drop it, and read the user (whom the page shows) and the notebook anew.
        await session.rollback()
        await session.refresh(user)
        notebook = await _owned(session, user, notebook_id)
        context = {"notebook": notebook, "name": name, "error": error}
        return render(request, "rename.html", context, status_code=422)
    return RedirectResponse("/", status_code=303)


@router.get("/notebooks/{notebook_id}/delete")
async def delete_page(
    request: Request, session: SessionDep, user: PageUser, notebook_id: NotebookId
) -> Response:
    """The confirmation: what goes with the notebook, before anything is removed."""
    notebook = await _owned(session, user, notebook_id)
    counts = await notebook_service.notebook_counts(session, owner_id=user.id)
    context = {"notebook": notebook, "counts": counts.get(notebook.id, notebook_service.Counts())}
    return render(request, "delete.html", context)


@router.post("/notebooks/{notebook_id}/delete")
async def delete(session: SessionDep, user: ChangingUser, notebook_id: NotebookId) -> Response:
    notebook = await _owned(session, user, notebook_id)
    await notebook_service.delete_notebook(session, notebook)
    return RedirectResponse("/", status_code=303)


def _sentence(error: AppError) -> str:
    message = error.message
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
