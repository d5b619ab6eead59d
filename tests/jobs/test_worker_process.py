"""A real `learningtool worker` process killed mid-job: the job completes exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from learningtool.db import session_scope
from learningtool.jobs import queue
from learningtool.models import Job, Notebook, User
from tests.conftest import Api

REPO = Path(__file__).resolve().parents[2]


async def start_worker(
    api: Api, log: Path, extra_env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    """`learningtool worker` on the test's database, as a real process of its own."""
    settings = api.context.settings
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LEARNINGTOOL_DATA_DIR": str(settings.data_dir),
        "LEARNINGTOOL_DATABASE_URL": settings.sqlalchemy_url,
        "LEARNINGTOOL_JOB_LEASE_SECONDS": str(settings.job_lease_seconds),
        "LEARNINGTOOL_JOB_POLL_SECONDS": "0.1",
        "LEARNINGTOOL_EMBEDDING_PROVIDER": settings.embedding_provider,
        "LEARNINGTOOL_GRAPH_ENABLED": str(settings.graph_enabled).lower(),
        **(extra_env or {}),
    }
    handle = await asyncio.to_thread(log.open, "ab")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "learningtool",
            "worker",
            "--import",
            "tests.support.jobs",
            env=env,
            stdout=handle,
            stderr=handle,
            cwd=str(REPO),
        )
    finally:
        await asyncio.to_thread(handle.close)  # the child has its own copy


async def read_lines(path: Path) -> list[str]:
    exists = await asyncio.to_thread(path.exists)
    return (await asyncio.to_thread(path.read_text)).splitlines() if exists else []


@pytest.mark.slow
async def test_killed_worker_job_completes_exactly_once(api: Api, tmp_path: Path) -> None:
    marker = tmp_path / "starts"
    async with session_scope(api.context.sessions) as session:
        owner = (await session.scalars(select(User.id).where(User.name == "local"))).one()
        job = await queue.enqueue(
            session,
            "test.slow_effect",
            {"marker": str(marker), "seconds": 2.5, "owner_id": owner, "name": "effect"},
            user_id=owner,
        )
    first = await start_worker(api, tmp_path / "worker1.log")
    second: asyncio.subprocess.Process | None = None
    try:
        async with asyncio.timeout(30):
            while not await read_lines(marker):
                await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)  # mid-job: started, effect not yet made
        assert await first.wait() == -signal.SIGKILL

        second = await start_worker(api, tmp_path / "worker2.log")
        async with asyncio.timeout(40):
            while True:
                async with api.context.sessions() as session:
                    state = (await session.get(Job, job.id, populate_existing=True)).state
                if state in queue.TERMINAL:
                    break
                await asyncio.sleep(0.1)
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await process.wait()

    async with api.context.sessions() as session:
        finished = await session.get(Job, job.id, populate_existing=True)
        effects = await session.scalar(select(func.count()).where(Notebook.name == "effect"))
    starts = await read_lines(marker)
    assert finished is not None
    assert (finished.state, finished.attempts) == ("succeeded", 2), finished.error
    assert effects == 1
    assert len(starts) == 2 and starts[0].split()[0] != starts[1].split()[0]  # two processes
