"""Fifty writers at once, with the job worker writing too: every write lands, none fails
with "database is locked" (SQLite) or a serialization error (PostgreSQL)."""

from __future__ import annotations

import asyncio

from httpx import AsyncClient
from sqlalchemy import func, select

from learningtool.jobs.worker import Worker
from learningtool.models import Job, Source
from tests.conftest import Api


async def test_fifty_concurrent_writers_all_land(api: Api, client: AsyncClient) -> None:
    shared = (await client.post("/api/v1/notebooks", json={"name": "Shared"})).json()["id"]
    base = f"/api/v1/notebooks/{shared}"
    writes = [
        *(client.post("/api/v1/notebooks", json={"name": f"Notebook {n}"}) for n in range(10)),
        *(
            client.post(f"{base}/sources", json={"text": f"# Note {n}\n\nFact number {n}."})
            for n in range(20)
        ),
        *(client.post(f"{base}/chat/sessions", json={"title": f"Chat {n}"}) for n in range(10)),
        *(client.patch(base, json={"name": f"Shared {n}"}) for n in range(10)),
    ]
    worker = asyncio.create_task(Worker(api.context).run())
    try:
        responses = await asyncio.gather(*writes)
        assert [r.status_code for r in responses if r.status_code >= 300] == []
        async with asyncio.timeout(120):
            while await _pending(api):
                await asyncio.sleep(0.1)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    async with api.context.sessions() as session:
        states = list(await session.scalars(select(Source.status)))
        failed = list(await session.scalars(select(Job.error).where(Job.state == "failed")))
    assert len(states) == 20 and set(states) == {"ready"}
    assert failed == []


async def _pending(api: Api) -> int:
    async with api.context.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Job).where(Job.state.in_(("queued", "running")))
        )
    return int(count or 0)
