"""Job handlers for the benches, imported by each worker process (`load_handlers`)."""

from __future__ import annotations

from learningtool.jobs.registry import JobContext, job


@job("bench.noop")
async def noop(ctx: JobContext) -> None:
    """Does nothing: what is left is the queue's own cost (claim, completion, bookkeeping)."""
    return None
