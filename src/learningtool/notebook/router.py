"""HTTP routes of notebooks and their exclusions."""

from __future__ import annotations

from fastapi import APIRouter, status

from learningtool.deps import CurrentUser, SessionDep
from learningtool.jobs.schemas import JobRead
from learningtool.notebook import service
from learningtool.notebook.deps import NotebookDep
from learningtool.notebook.schemas import (
    ExclusionCreate,
    ExclusionRead,
    NotebookCreate,
    NotebookDeleted,
    NotebookRead,
    NotebookUpdate,
)

router = APIRouter(prefix="/notebooks", tags=["notebooks"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_notebook(
    body: NotebookCreate, session: SessionDep, user: CurrentUser
) -> NotebookRead:
    notebook = await service.create_notebook(
        session, owner_id=user.id, name=body.name, description=body.description
    )
    return NotebookRead.model_validate(notebook)


@router.get("")
async def list_notebooks(session: SessionDep, user: CurrentUser) -> list[NotebookRead]:
    notebooks = await service.list_notebooks(session, owner_id=user.id)
    return [NotebookRead.model_validate(n) for n in notebooks]


@router.get("/{notebook_id}")
async def get_notebook(notebook: NotebookDep) -> NotebookRead:
    return NotebookRead.model_validate(notebook)


@router.patch("/{notebook_id}")
async def update_notebook(
    body: NotebookUpdate, notebook: NotebookDep, session: SessionDep
) -> NotebookRead:
    notebook = await service.update_notebook(
        session, notebook, name=body.name, description=body.description
    )
    return NotebookRead.model_validate(notebook)


@router.delete("/{notebook_id}", status_code=status.HTTP_202_ACCEPTED)
async def delete_notebook(notebook: NotebookDep, session: SessionDep) -> NotebookDeleted:
    job = await service.delete_notebook(session, notebook)
    return NotebookDeleted(notebook_id=notebook.id, job=JobRead.of(job))


@router.get("/{notebook_id}/exclusions")
async def list_exclusions(notebook: NotebookDep, session: SessionDep) -> list[ExclusionRead]:
    exclusions = await service.list_exclusions(session, notebook)
    return [ExclusionRead.model_validate(e) for e in exclusions]


@router.post("/{notebook_id}/exclusions", status_code=status.HTTP_201_CREATED)
async def add_exclusion(
    body: ExclusionCreate, notebook: NotebookDep, session: SessionDep
) -> ExclusionRead:
    exclusion = await service.add_exclusion(
        session, notebook, target_kind=body.target_kind, target=body.target, scope=body.scope
    )
    return ExclusionRead.model_validate(exclusion)


@router.delete("/{notebook_id}/exclusions/{exclusion_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_exclusion(exclusion_id: str, notebook: NotebookDep, session: SessionDep) -> None:
    await service.delete_exclusion(session, notebook, exclusion_id)
