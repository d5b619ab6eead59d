"""`langgraph dev` serves the app with its blocking detection on.

Starts the real CLI on `langgraph.json` (never with `--allow-blocking`), drives our HTTP API
and the registered `echo` graph through it, stops it, and finds no `BlockingError` and no
`Traceback` in what the server printed. The server runs in a temporary directory outside
the repository: the in-memory runtime writes `.langgraph_api/` into its working directory,
and its logs and our data directory go there too.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import _truncate_postgres

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "langgraph.json"
LANGGRAPH = Path(sys.executable).parent / "langgraph"
STARTUP_TIMEOUT = 60.0
JOB_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


@dataclass
class DevServer:
    """A `langgraph dev` process, its base URL, and the files its output goes to."""

    process: asyncio.subprocess.Process
    url: str
    stdout: Path
    stderr: Path

    async def output(self) -> str:
        parts = []
        for path in (self.stdout, self.stderr):
            text = await asyncio.to_thread(path.read_text, errors="replace")
            parts.append(f"--- {path.name} ---\n{text}")
        return "\n".join(parts)

    async def stop(self) -> int:
        """SIGTERM to the process group (the CLI and anything it spawned), then wait;
        SIGKILL if it does not stop in time."""
        if self.process.returncode is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self.process.wait()
            except TimeoutError:
                os.killpg(self.process.pid, signal.SIGKILL)
                await self.process.wait()
        return self.process.returncode  # type: ignore[return-value]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(params=["sqlite", "postgresql"])
def database_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """SQLite: the app's default file in its data directory, created and migrated by the
    server itself. PostgreSQL: the session's test database, emptied first (so that the server
    creates the `local` user and writes its token)."""
    if request.param == "sqlite":
        return {}
    url: str = request.getfixturevalue("postgres_url")
    _truncate_postgres(url)
    return {"LEARNINGTOOL_DATABASE_URL": url}


def _server_env(data_dir: Path, database_env: dict[str, str]) -> dict[str, str]:
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LEARNINGTOOL_", "LANGGRAPH_", "LANGSMITH_", "LANGCHAIN_"))
    }
    return {
        **inherited,
        "PYTHONUNBUFFERED": "1",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGGRAPH_NO_VERSION_CHECK": "true",  # no request to PyPI at start
        "LANGSMITH_TRACING": "false",
        "LEARNINGTOOL_DATA_DIR": str(data_dir),
        "LEARNINGTOOL_LOG_LEVEL": "INFO",
        **database_env,
    }


@asynccontextmanager
async def langgraph_dev(workdir: Path, env: dict[str, str]) -> AsyncIterator[DevServer]:
    """Run `langgraph dev` in `workdir` until the block ends; its own process group, so that
    stopping it stops everything it started."""
    port = await asyncio.to_thread(_free_port)
    stdout, stderr = workdir / "langgraph-dev.out", workdir / "langgraph-dev.err"
    out_handle = await asyncio.to_thread(stdout.open, "wb")
    err_handle = await asyncio.to_thread(stderr.open, "wb")
    try:
        process = await asyncio.create_subprocess_exec(
            str(LANGGRAPH), "dev", "--no-browser", "--no-reload",
            "--host", "127.0.0.1", "--port", str(port), "--config", str(CONFIG),
            cwd=workdir, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=out_handle, stderr=err_handle, start_new_session=True,
        )  # fmt: skip
        server = DevServer(process, f"http://127.0.0.1:{port}", stdout, stderr)
        try:
            yield server
        finally:
            await server.stop()
    finally:
        await asyncio.to_thread(out_handle.close)
        await asyncio.to_thread(err_handle.close)


async def wait_until_healthy(server: DevServer, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(STARTUP_TIMEOUT):
        while True:
            if server.process.returncode is not None:
                pytest.fail(
                    f"langgraph dev exited with {server.process.returncode} before answering\n"
                    + await server.output()
                )
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)


async def read_events(
    http: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> list[tuple[str, dict[str, Any]]]:
    """Read a server-sent event stream to its end: (event name, JSON data) of each event."""
    events: list[tuple[str, dict[str, Any]]] = []
    name, data = "message", list[str]()
    async with (
        asyncio.timeout(JOB_TIMEOUT),
        http.stream("GET", path, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if not line:  # a blank line ends an event
                if data:
                    events.append((name, json.loads("\n".join(data))))
                name, data = "message", []
            elif line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data.append(line.removeprefix("data:").strip())
    return events


async def exercise_api(http: httpx.AsyncClient, token: str) -> None:
    """Health, metrics, and the notebook, exclusion and job routes, as the local user."""
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "worker": "ok"}
    metrics = await http.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "# TYPE " in metrics.text
    ours = await http.get("/learningtool/metrics")  # the server's own /metrics shadows ours
    assert "learningtool_event_loop_lag_max_seconds" in ours.text
    assert (await http.get("/api/v1/notebooks")).status_code == 401

    auth = {"Authorization": f"Bearer {token}"}
    created = await http.post("/api/v1/notebooks", json={"name": "Biology"}, headers=auth)
    assert created.status_code == 201, created.text
    notebook = created.json()
    base = f"/api/v1/notebooks/{notebook['id']}"
    listed = await http.get("/api/v1/notebooks", headers=auth)
    assert [n["id"] for n in listed.json()] == [notebook["id"]]
    assert (await http.get(base, headers=auth)).json()["name"] == "Biology"
    renamed = await http.patch(base, json={"name": "Cell biology"}, headers=auth)
    assert renamed.status_code == 200, renamed.text
    assert (await http.get(base, headers=auth)).json()["name"] == "Cell biology"

    added = await http.post(
        f"{base}/exclusions", json={"target_kind": "tag", "target": "draft"}, headers=auth
    )
    assert added.status_code == 201, added.text
    exclusion = added.json()
    assert (exclusion["target_kind"], exclusion["target"], exclusion["scope"]) == (
        "tag", "draft", "both",
    )  # fmt: skip
    exclusions = (await http.get(f"{base}/exclusions", headers=auth)).json()
    assert [e["id"] for e in exclusions] == [exclusion["id"]]
    removed = await http.delete(f"{base}/exclusions/{exclusion['id']}", headers=auth)
    assert removed.status_code == 204, removed.text
    assert (await http.get(f"{base}/exclusions", headers=auth)).json() == []

    deleted = await http.delete(base, headers=auth)
    assert deleted.status_code == 202, deleted.text
    job_id = deleted.json()["job"]["id"]
    assert (await http.get(base, headers=auth)).status_code == 404
    async with asyncio.timeout(JOB_TIMEOUT):
        while (job := (await http.get(f"/api/v1/jobs/{job_id}", headers=auth)).json())[
            "state"
        ] != "succeeded":
            assert job["state"] in ("queued", "running"), job
            await asyncio.sleep(0.1)
    assert job["result"] == {"rows_deleted": 1}

    events = await read_events(http, f"/api/v1/jobs/{job_id}/events", auth)
    assert events, "the stream ended without an event"
    assert {name for name, _ in events} == {"job"}
    assert events[-1][1]["state"] == "succeeded"
    assert events[-1][1]["id"] == job_id


async def run_echo_graph(http: httpx.AsyncClient) -> None:
    """A threadless run of the registered graph through the LangGraph API."""
    response = await http.post(
        "/runs/wait", json={"assistant_id": "echo", "input": {"message": "hello"}}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"reply": "hello", "length": 5}


@pytest.mark.slow
async def test_langgraph_dev_serves_the_app_without_blocking(
    tmp_path: Path, database_env: dict[str, str]
) -> None:
    assert not tmp_path.is_relative_to(REPO), "the server must not write into the repository"
    workdir, data_dir = tmp_path / "cwd", tmp_path / "data"
    await asyncio.to_thread(workdir.mkdir)
    env = _server_env(data_dir, database_env)

    async with langgraph_dev(workdir, env) as server:
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
                await wait_until_healthy(server, http)
                token_file = data_dir / "local-token"
                token = (await asyncio.to_thread(token_file.read_text)).strip()
                await exercise_api(http, token)
                await run_echo_graph(http)
        finally:
            returncode = await server.stop()
            print(await server.output())  # shown by pytest when the test fails

    output = await server.output()
    assert "You've set --allow-blocking" not in output  # the detection was on
    assert "BlockingError" not in output
    assert "Traceback" not in output
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: -SIGTERM, not
    # -SIGKILL (what `stop()` sends when the graceful shutdown does not finish in time).
    assert returncode in (0, -signal.SIGTERM), f"langgraph dev exited with {returncode}"
