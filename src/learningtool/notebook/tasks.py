"""Background work of notebooks: purging a deleted notebook's rows and files."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

from sqlalchemy import delete, select

from learningtool.jobs import queue
from learningtool.jobs.registry import JobContext, PermanentJobError, job
from learningtool.models import Notebook, ResearchRun
from learningtool.notebook.service import PURGE_JOB

# The research package keeps its runs' checkpoints apart from these tables; it is told by
# job name which runs went (this package does not import it).
FORGET_RUNS_JOB = "research.forget_runs"


@job(PURGE_JOB, timeout_seconds=3600)
async def purge_notebook(ctx: JobContext) -> dict[str, Any]:
    """Delete the notebook's files (its folder under the data directory: blobs it alone
    references, index and graph data) and then its row; every table under it goes with the
    row through ON DELETE CASCADE. Safe to run again: each step ignores what is gone."""
    notebook_id = str(ctx.payload["notebook_id"])
    if not notebook_id.isalnum():  # ids are hex; anything else must not become a path
        raise PermanentJobError("invalid notebook id")
    if ctx.app.graph is not None:
        await ctx.app.graph.drop(notebook_id)  # also closes its workspace in the graph worker
    ctx.app.vectors.forget(notebook_id)
    runs = list(
        await ctx.session.scalars(
            select(ResearchRun.id).where(ResearchRun.notebook_id == notebook_id)
        )
    )
    folder = ctx.app.settings.notebooks_dir / notebook_id
    await asyncio.to_thread(shutil.rmtree, folder, ignore_errors=True)
    await ctx.progress(0.5, "files removed")
    # The job's own transaction writes only from here on: a write before the progress
    # update would hold SQLite's lock that the update (its own transaction) waits for.
    if runs:  # enqueued in this job's transaction: it exists once the rows are gone
        await queue.enqueue(ctx.session, FORGET_RUNS_JOB, {"run_ids": runs})
    result = await ctx.session.execute(delete(Notebook).where(Notebook.id == notebook_id))
    return {"rows_deleted": result.rowcount}  # type: ignore[attr-defined]
