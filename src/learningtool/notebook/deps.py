"""The notebook in a request's path, for every route under `/notebooks/{notebook_id}`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from learningtool.deps import CurrentUser, SessionDep
from learningtool.models import Notebook
from learningtool.notebook import service as notebook_service


async def get_notebook(
    session: SessionDep, user: CurrentUser, notebook_id: Annotated[str, Path(max_length=64)]
) -> Notebook:
    """The notebook in the path, if the caller owns it; 404 otherwise (never 403, which would
    confirm that someone else's notebook exists). The read's transaction ends here, as
    authentication's does, so the pooled connection goes back until the handler queries
    again: a handler that first waits (a query embedding, the graph, a model) must not hold
    one meanwhile."""
    notebook = await notebook_service.get_notebook(
        session, owner_id=user.id, notebook_id=notebook_id
    )
    await session.commit()
    return notebook


NotebookDep = Annotated[Notebook, Depends(get_notebook)]
