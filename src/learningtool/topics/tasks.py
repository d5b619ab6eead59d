"""The `topics.suggest` job, enqueued with the study job when a source becomes ready."""

from __future__ import annotations

from typing import Any

from learningtool.jobs.registry import JobContext, job
from learningtool.llm import UsageRecorder
from learningtool.models import Source
from learningtool.topics import service

SUGGEST_JOB = "topics.suggest"


@job(SUGGEST_JOB, timeout_seconds=600)
async def suggest_topics(ctx: JobContext) -> dict[str, Any]:
    source = await ctx.session.get(Source, str(ctx.payload["source_id"]))
    if source is None or source.status != "ready":
        return {"skipped": "the source is not ready"}
    usage = UsageRecorder()
    topics = await service.suggest_for_source(ctx.session, ctx.app, source, usage)
    return {"topics": [t.id for t in topics], "tokens": usage.total.total_tokens}
