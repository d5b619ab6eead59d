"""Durable jobs: retries with backoff, readable failures, cancel and retry, leases, events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select

from learningtool.context import create_context
from learningtool.db import session_scope
from learningtool.jobs import queue
from learningtool.jobs.worker import Worker
from learningtool.models import Job, Notebook
from tests.conftest import Api
from tests.support import jobs as test_jobs


@pytest.fixture(autouse=True)
def executions() -> Iterator[list[tuple[str, int]]]:
    test_jobs.EXECUTIONS.clear()
    yield test_jobs.EXECUTIONS
    test_jobs.EXECUTIONS.clear()


async def enqueue(
    api: Api, kind: str, payload: dict[str, Any] | None = None, **options: Any
) -> str:
    user_id = await _local_user_id(api)
    async with session_scope(api.context.sessions) as session:
        job = await queue.enqueue(session, kind, payload, user_id=user_id, **options)
        return job.id


async def _local_user_id(api: Api) -> str:
    from learningtool.models import User

    async with api.context.sessions() as session:
        return (await session.scalars(select(User.id).where(User.name == "local"))).one()


async def load(api: Api, job_id: str) -> Job:
    async with api.context.sessions() as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return job


async def wait_for(api: Api, job_id: str, states: set[str], timeout: float = 15) -> Job:
    async with asyncio.timeout(timeout):
        while (job := await load(api, job_id)).state not in states:
            await asyncio.sleep(0.05)
    return job


async def test_retries_with_backoff_then_succeeds(api: Api, executions: list) -> None:
    job_id = await enqueue(api, "test.flaky", {"succeed_on": 3})
    await Worker(api.context).drain()
    job = await load(api, job_id)
    assert job.state == "succeeded" and job.attempts == 3
    assert job.result == {"attempt": 3} and job.error is None
    assert executions == [(job_id, 1), (job_id, 2), (job_id, 3)]


async def test_backoff_delays_the_next_attempt(api: Api) -> None:
    api.context.settings.job_backoff_seconds = 60
    job_id = await enqueue(api, "test.flaky", {"succeed_on": 2})
    await Worker(api.context).drain()
    job = await load(api, job_id)
    assert job.state == "queued" and job.attempts == 1
    assert job.error == "transient failure on attempt 1"
    delay = (job.run_at - job.updated_at).total_seconds()
    assert 60 <= delay <= 76
    assert "retrying in" in job.message


async def test_permanent_failure_keeps_its_reason(api: Api, client: AsyncClient) -> None:
    job_id = await enqueue(api, "test.broken")
    await Worker(api.context).drain()
    body = (await client.get(f"/api/v1/jobs/{job_id}")).json()
    assert body["state"] == "failed" and body["attempts"] == 1
    assert body["error"] == "the input cannot be processed: it is not a PDF"
    assert body["finished_at"] is not None


async def test_unexpected_errors_are_retried_then_fail_without_leaking(
    api: Api, client: AsyncClient
) -> None:
    job_id = await enqueue(api, "test.crash", max_attempts=2)
    await Worker(api.context).drain()
    body = (await client.get(f"/api/v1/jobs/{job_id}")).json()
    assert body["state"] == "failed" and body["attempts"] == 2
    assert body["error"] == "internal error (RuntimeError)"
    assert "/srv" not in json.dumps(body)


async def test_exhausted_attempts_fail_with_the_last_reason(api: Api) -> None:
    job_id = await enqueue(api, "test.flaky", {"succeed_on": 10}, max_attempts=2)
    await Worker(api.context).drain()
    job = await load(api, job_id)
    assert (job.state, job.attempts, job.error) == ("failed", 2, "transient failure on attempt 2")


async def test_a_handler_that_overruns_times_out(api: Api) -> None:
    job_id = await enqueue(api, "test.wait", {"seconds": 5}, max_attempts=1)
    await Worker(api.context).drain()
    job = await load(api, job_id)
    assert (job.state, job.error) == ("failed", "timed out after 0.5 s")


async def test_retry_and_cancel_through_the_api(api: Api, client: AsyncClient) -> None:
    failed = await enqueue(api, "test.broken")
    await Worker(api.context).drain()
    retried = await client.post(f"/api/v1/jobs/{failed}/retry")
    assert retried.status_code == 200
    assert (retried.json()["state"], retried.json()["attempts"]) == ("queued", 0)
    not_again = await client.post(f"/api/v1/jobs/{failed}/retry")
    assert not_again.status_code == 409

    queued = await enqueue(api, "test.noop")
    cancelled = await client.post(f"/api/v1/jobs/{queued}/cancel")
    assert cancelled.json()["state"] == "cancelled"
    assert (await client.post(f"/api/v1/jobs/{queued}/cancel")).status_code == 409
    await Worker(api.context).drain()
    assert (await load(api, queued)).state == "cancelled"
    assert (await client.get("/api/v1/jobs/" + "0" * 32)).status_code == 404


async def test_cancelling_a_running_job_discards_its_effect(
    api: Api, client: AsyncClient, tmp_path
) -> None:
    owner = await _local_user_id(api)
    payload = {"marker": str(tmp_path / "m"), "seconds": 3, "owner_id": owner, "name": "never"}
    job_id = await enqueue(api, "test.slow_effect", payload)
    worker = Worker(api.context)
    runner = asyncio.create_task(worker.run())
    try:
        await wait_for(api, job_id, {"running"})
        await asyncio.sleep(0.2)
        assert (await client.post(f"/api/v1/jobs/{job_id}/cancel")).json()["state"] == "cancelled"
        await asyncio.sleep(api.context.settings.job_lease_seconds + 2)
    finally:
        await worker.stop()
        runner.cancel()
    job = await load(api, job_id)
    assert job.state == "cancelled"
    async with api.context.sessions() as session:
        assert await session.scalar(select(func.count()).where(Notebook.name == "never")) == 0


async def test_an_expired_lease_is_claimed_again_and_runs_once(api: Api, executions: list) -> None:
    job_id = await enqueue(api, "test.noop")
    dead = Worker(api.context, worker_id="dead")
    claimed = await dead.claim()  # and then the worker "dies": it never runs the job
    assert claimed is not None and claimed.id == job_id
    alive = Worker(api.context, worker_id="alive")
    assert await alive.claim() is None  # the lease still holds
    await asyncio.sleep(api.context.settings.job_lease_seconds + 0.1)
    assert await alive.drain() == 1
    job = await load(api, job_id)
    assert (job.state, job.attempts, job.worker_id) == ("succeeded", 2, "alive")
    assert executions == [(job_id, 2)]
    # The dead worker cannot complete it late.
    await dead.execute(claimed)
    assert executions == [(job_id, 2), (job_id, 1)]
    assert (await load(api, job_id)).worker_id == "alive"


async def test_concurrent_workers_never_run_the_same_job(api: Api, executions: list) -> None:
    job_ids = {await enqueue(api, "test.noop") for _ in range(120)}
    contexts = [await create_context(api.context.settings) for _ in range(4)]
    workers = [Worker(context, concurrency=4) for context in contexts]
    runners = [asyncio.create_task(worker.run()) for worker in workers]
    try:
        async with asyncio.timeout(60):
            while len(executions) < len(job_ids):
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    finally:
        for worker in workers:
            await worker.stop()
        for runner in runners:
            runner.cancel()
        for context in contexts:
            await context.close()
    ran = [job_id for job_id, _ in executions]
    assert sorted(ran) == sorted(job_ids)  # each exactly once
    async with api.context.sessions() as session:
        states = (await session.scalars(select(Job.state).where(Job.id.in_(job_ids)))).all()
    assert set(states) == {"succeeded"}


async def test_event_stream_follows_the_job_to_its_end(api: Api, client: AsyncClient) -> None:
    job_id = await enqueue(api, "test.flaky", {"succeed_on": 2})
    worker = Worker(api.context)
    runner = asyncio.create_task(worker.run())
    events: list[dict[str, Any]] = []
    try:
        async with (
            asyncio.timeout(20),
            client.stream("GET", f"/api/v1/jobs/{job_id}/events") as stream,
        ):
            assert stream.headers["content-type"].startswith("text/event-stream")
            async for line in stream.aiter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line.removeprefix("data:").strip()))
    finally:
        await worker.stop()
        runner.cancel()
    assert events[0]["id"] == job_id
    assert events[-1]["state"] == "succeeded" and events[-1]["attempts"] == 2
    assert len(events) >= 2
