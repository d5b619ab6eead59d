"""Notebooks and exclusions: create, read, rename, delete (as a purge job), exclude."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool import spans
from learningtool.errors import Conflict, NotFound
from learningtool.jobs import queue
from learningtool.models import CardState, Exclusion, Job, Notebook, Source, utcnow

PURGE_JOB = "notebook.purge"


async def _flush_unique(session: AsyncSession, message: str, new: object = None) -> None:
    """Add `new` (if given) and flush inside a savepoint, so that a unique-constraint race
    becomes a 409 and the request's transaction stays usable."""
    try:
        async with session.begin_nested():
            if new is not None:
                session.add(new)
            await session.flush()
    except IntegrityError as error:
        raise Conflict(message) from error


async def create_notebook(
    session: AsyncSession, *, owner_id: str, name: str, description: str = ""
) -> Notebook:
    name = name.strip()
    notebook = Notebook(owner_id=owner_id, name=name, description=description)
    await _flush_unique(session, f"a notebook named {name!r} exists already", notebook)
    return notebook


async def find_notebook(session: AsyncSession, *, owner_id: str, name: str) -> Notebook | None:
    notebook: Notebook | None = await session.scalar(
        _live(owner_id).where(Notebook.name == name.strip())
    )
    return notebook


async def get_or_create_notebook(session: AsyncSession, *, owner_id: str, name: str) -> Notebook:
    existing = await find_notebook(session, owner_id=owner_id, name=name)
    return existing or await create_notebook(session, owner_id=owner_id, name=name)


def _live(owner_id: str):  # type: ignore[no-untyped-def]
    return select(Notebook).where(Notebook.owner_id == owner_id, Notebook.deleted_at.is_(None))


async def list_notebooks(session: AsyncSession, *, owner_id: str) -> list[Notebook]:
    return list(await session.scalars(_live(owner_id).order_by(Notebook.created_at, Notebook.id)))


@spans.timed("notebook.get")
async def get_notebook(session: AsyncSession, *, owner_id: str, notebook_id: str) -> Notebook:
    notebook: Notebook | None = await session.scalar(
        _live(owner_id).where(Notebook.id == notebook_id)
    )
    if notebook is None:
        raise NotFound("notebook not found")
    return notebook


@dataclass(frozen=True)
class Counts:
    sources: int = 0
    cards_due: int = 0


async def notebook_counts(session: AsyncSession, *, owner_id: str) -> dict[str, Counts]:
    """Sources and cards due now (not suspended) of each of the owner's notebooks, in two
    grouped queries (a list page must not ask once per notebook)."""
    live = (Notebook.owner_id == owner_id, Notebook.deleted_at.is_(None))
    sources = await session.execute(
        select(Source.notebook_id, func.count())
        .join(Notebook, Notebook.id == Source.notebook_id)
        .where(*live)
        .group_by(Source.notebook_id)
    )
    due = await session.execute(
        select(CardState.notebook_id, func.count())
        .join(Notebook, Notebook.id == CardState.notebook_id)
        .where(*live, CardState.due_at <= utcnow(), CardState.suspended.is_(False))
        .group_by(CardState.notebook_id)
    )
    source_counts = {notebook_id: count for notebook_id, count in sources.all()}
    due_counts = {notebook_id: count for notebook_id, count in due.all()}
    return {
        notebook_id: Counts(source_counts.get(notebook_id, 0), due_counts.get(notebook_id, 0))
        for notebook_id in source_counts.keys() | due_counts.keys()
    }


async def pending_deletions(session: AsyncSession, *, owner_id: str) -> list[tuple[str, Job]]:
    """The owner's deleted notebooks whose purge has not finished (or failed): name and job.
    A purged notebook's row is gone, and its job with it from this list."""
    rows = await session.execute(
        select(Notebook.name, Job)
        .join(Job, (Job.notebook_id == Notebook.id) & (Job.kind == PURGE_JOB))
        .where(Notebook.owner_id == owner_id, Notebook.deleted_at.is_not(None))
        .order_by(Notebook.deleted_at, Notebook.id)
    )
    return [(name, job) for name, job in rows.all()]


async def update_notebook(
    session: AsyncSession, notebook: Notebook, *, name: str | None, description: str | None
) -> Notebook:
    if name is not None:
        notebook.name = name.strip()
    if description is not None:
        notebook.description = description
    notebook.updated_at = utcnow()
    await _flush_unique(session, f"a notebook named {notebook.name!r} exists already")
    return notebook


async def delete_notebook(session: AsyncSession, notebook: Notebook) -> Job:
    """Hide the notebook now and enqueue the purge of its rows, files and index data.
    Deleting twice returns the same purge job."""
    notebook.deleted_at = notebook.deleted_at or utcnow()
    return await queue.enqueue(
        session,
        PURGE_JOB,
        {"notebook_id": notebook.id},
        user_id=notebook.owner_id,
        notebook_id=notebook.id,
        dedupe_key=f"{PURGE_JOB}:{notebook.id}",
    )


async def list_exclusions(session: AsyncSession, notebook: Notebook) -> list[Exclusion]:
    rows = await session.scalars(
        select(Exclusion)
        .where(Exclusion.notebook_id == notebook.id)
        .order_by(Exclusion.created_at, Exclusion.id)
    )
    return list(rows)


async def add_exclusion(
    session: AsyncSession, notebook: Notebook, *, target_kind: str, target: str, scope: str
) -> Exclusion:
    """Exclude a source of this notebook or a tag. Excluding the same target again updates
    its scope instead of failing: the learner's latest choice wins."""
    if target_kind == "source":
        source = await session.scalar(
            select(Source.id).where(Source.id == target, Source.notebook_id == notebook.id)
        )
        if source is None:
            raise NotFound("source not found in this notebook")
    existing = await session.scalar(
        select(Exclusion).where(
            Exclusion.notebook_id == notebook.id,
            Exclusion.target_kind == target_kind,
            Exclusion.target == target,
        )
    )
    if existing is not None:
        existing.scope = scope
        await session.flush()
        return existing
    exclusion = Exclusion(
        notebook_id=notebook.id, target_kind=target_kind, target=target, scope=scope
    )
    await _flush_unique(session, "this target is excluded already", exclusion)
    return exclusion


async def delete_exclusion(session: AsyncSession, notebook: Notebook, exclusion_id: str) -> None:
    exclusion = await session.scalar(
        select(Exclusion).where(Exclusion.id == exclusion_id, Exclusion.notebook_id == notebook.id)
    )
    if exclusion is None:
        raise NotFound("exclusion not found")
    await session.delete(exclusion)
    await session.flush()
