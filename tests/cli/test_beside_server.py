"""`learningtool ingest` beside a running server on the same data directory: the server
runs the jobs (it owns the knowledge graph) and the command shows their progress.

Repro from a first-hour trial: every file's first attempt failed with "another
knowledge-graph worker uses this data directory" and waited for a retry (34.5 s for two
files), because the command ran its own worker and graph beside the server's."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.server import REPO, Server

ENV = {
    "LEARNINGTOOL_GRAPH_ENABLED": "true",  # the graph is what has one owner
    "LEARNINGTOOL_JOB_BACKOFF_SECONDS": "30",  # a retry would show as a slow run
}


def _ingest(data_dir: Path, files: list[Path]) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LEARNINGTOOL_DATA_DIR": str(data_dir),
        "LEARNINGTOOL_EMBEDDING_PROVIDER": "hashing",
        "LEARNINGTOOL_LOG_LEVEL": "ERROR",
        **ENV,
    }
    command = [sys.executable, "-m", "learningtool", "ingest", *map(str, files)]
    return subprocess.run(
        [*command, "--notebook", "Licences"],
        env=env,
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=180,
    )


def _ingest_jobs(data_dir: Path) -> list[tuple[str, int, str | None]]:
    connection = sqlite3.connect(data_dir / "learningtool.db")
    try:
        rows = connection.execute(
            "SELECT state, attempts, worker_id FROM jobs WHERE kind = 'source.ingest'"
        )
        return list(rows.fetchall())
    finally:
        connection.close()


def _server_uses_its_graph(server: Server, token: str) -> None:
    """A first source through the API: the server's graph worker holds the graph from now."""
    with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token}"}) as api:
        notebook = api.post("/api/v1/notebooks", json={"name": "Warm"}).json()["id"]
        text = "Photosynthesis turns light into chemical energy in the chloroplasts."
        added = api.post(f"/api/v1/notebooks/{notebook}/sources", json={"text": text}).json()
        deadline = time.monotonic() + 60
        while api.get(f"/api/v1/jobs/{added['job']['id']}").json()["state"] != "succeeded":
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.2)


def test_ingest_hands_its_files_to_the_running_server(tmp_path: Path) -> None:
    files = []
    for number in range(2):
        path = tmp_path / f"licence-{number}.md"
        path.write_text(
            f"# Licence {number}\n\nPermission is granted to copy and share this work, part "
            f"{number}, provided the notice stays with every copy.\n"
        )
        files.append(path)
    server = Server(tmp_path / "data", None, ENV)
    try:
        _server_uses_its_graph(server, server.wait_ready())
        result = _ingest(tmp_path / "data", files)
        assert result.returncode == 0, result.stdout + result.stderr + server.output()
        jobs = _ingest_jobs(tmp_path / "data")
        assert len(jobs) == 3
        assert all(state == "succeeded" and attempts == 1 for state, attempts, _ in jobs), jobs
        assert all(f":{server.process.pid}:" in str(worker) for *_, worker in jobs), jobs
        assert "handing them to it" in result.stdout
    finally:
        server.stop()
