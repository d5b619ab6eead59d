"""Job handlers used by the tests (imported by test workers, in-process or as `--import`).

Each records what it did in the database through `ctx.session`, so the record commits only
together with the job's completion, as real handlers' effects do.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from learningtool.jobs.registry import JobContext, JobError, PermanentJobError, job
from learningtool.models import Notebook

EXECUTIONS: list[tuple[str, int]] = []  # (job id, attempt) of every in-process run


@job("test.noop")
async def noop(ctx: JobContext) -> dict[str, Any]:
    EXECUTIONS.append((ctx.job_id, ctx.attempt))
    return {"ok": True}


@job("test.flaky")
async def flaky(ctx: JobContext) -> dict[str, Any]:
    """Fails until attempt `succeed_on`."""
    EXECUTIONS.append((ctx.job_id, ctx.attempt))
    if ctx.attempt < int(ctx.payload["succeed_on"]):
        raise JobError(f"transient failure on attempt {ctx.attempt}")
    return {"attempt": ctx.attempt}


@job("test.broken")
async def broken(ctx: JobContext) -> None:
    raise PermanentJobError("the input cannot be processed: it is not a PDF")


@job("test.crash")
async def crash(ctx: JobContext) -> None:
    raise RuntimeError("secret internal detail at /srv/data/x")


@job("test.slow_effect")
async def slow_effect(ctx: JobContext) -> dict[str, Any]:
    """Marks each start in a file, waits `seconds`, then creates a notebook (the effect)."""
    marker = Path(ctx.payload["marker"])
    line = f"{os.getpid()} {ctx.attempt}\n"
    await asyncio.to_thread(_append, marker, line)
    await ctx.progress(0.1, "started")
    await asyncio.sleep(float(ctx.payload["seconds"]))
    ctx.session.add(Notebook(owner_id=ctx.payload["owner_id"], name=ctx.payload["name"]))
    return {"created": ctx.payload["name"]}


@job("test.wait", timeout_seconds=0.5)
async def wait(ctx: JobContext) -> None:
    await asyncio.sleep(float(ctx.payload.get("seconds", 5)))


def _append(path: Path, line: str) -> None:
    with path.open("a") as handle:
        handle.write(line)
