"""The app as `make serve` runs it (uvicorn, a process of its own, a loopback port), for
tests that need a real server: fuzzing over HTTP, killing it mid-work."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """The app under uvicorn on a loopback port, as `make serve` runs it."""

    def __init__(
        self, data_dir: Path, database_url: str | None, env: dict[str, str] | None = None
    ) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        env = {
            **os.environ,
            "LEARNINGTOOL_DATA_DIR": str(data_dir),
            # What the app prints (its sign-in link) names the address it really serves.
            "LEARNINGTOOL_HOST": "127.0.0.1",
            "LEARNINGTOOL_PORT": str(self.port),
            "LEARNINGTOOL_EMBEDDING_PROVIDER": "hashing",
            "LEARNINGTOOL_GRAPH_ENABLED": "false",
            "LEARNINGTOOL_JOB_POLL_SECONDS": "0.1",
            "LEARNINGTOOL_LOG_LEVEL": "ERROR",
            **(env or {}),
        }
        if database_url:
            env["LEARNINGTOOL_DATABASE_URL"] = database_url
        self.log = (data_dir.parent / "server.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "learningtool.main:app",
                "--port",
                str(self.port),
                "--no-access-log",
            ],
            env=env,
            cwd=str(REPO),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: `kill()` reaches its children
        )

    def wait_ready(self) -> str:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return (self.data_dir / "local-token").read_text().strip()
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"the server did not start: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        return (self.data_dir.parent / "server.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()

    def kill(self) -> None:
        """SIGKILL the server and every process it started (its process group)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self.log.close()
