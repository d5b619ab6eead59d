"""Schemathesis over the served OpenAPI schema, against the real server (uvicorn, its own
process) on SQLite and on PostgreSQL, with a valid token: no request may end in a 500, and
every documented response must match its schema.

Most generated ids would only ever meet a 404, so the notebook in a path is the prepared one
(with a processed source) three times in four, and the handlers behind it are reached too.
The example count is bounded to keep CI short: `FUZZ_EXAMPLES=200 make test` digs deeper.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import _truncate_postgres

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
TEXT = "# Tides\n\nThe Moon's gravity raises two tidal bulges on the oceans of the Earth.\n"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """The app under uvicorn on a loopback port, as `make serve` runs it."""

    def __init__(self, data_dir: Path, database_url: str | None) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        env = {
            **os.environ,
            "LEARNINGTOOL_DATA_DIR": str(data_dir),
            "LEARNINGTOOL_EMBEDDING_PROVIDER": "hashing",
            "LEARNINGTOOL_GRAPH_ENABLED": "false",
            "LEARNINGTOOL_JOB_POLL_SECONDS": "0.1",
            "LEARNINGTOOL_LOG_LEVEL": "ERROR",
            # The fuzzer is one very busy user: rate limits would answer it 429.
            "LEARNINGTOOL_RATE_SOURCES_PER_MINUTE": "0",
            "LEARNINGTOOL_RATE_CHAT_PER_MINUTE": "0",
            "LEARNINGTOOL_RATE_RESEARCH_PER_MINUTE": "0",
        }
        if database_url:
            env["LEARNINGTOOL_DATABASE_URL"] = database_url
        self.log = (data_dir.parent / "server.log").open("wb")
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


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        _truncate_postgres(url)
    server = Server(root / "data", url)
    try:
        token = server.wait_ready()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.base, headers=headers, timeout=30) as http:
            notebook = http.post("/api/v1/notebooks", json={"name": "Fuzzed"}).json()["id"]
            http.post(f"/api/v1/notebooks/{notebook}/sources", json={"text": TEXT})
        yield {"server": server, "headers": headers, "notebook": notebook}
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_no_request_ends_in_a_server_error(served: dict[str, Any]) -> None:
    """Every operation of the schema, `EXAMPLES` generated requests each. (Schemathesis's
    pytest plugin does not run under this pytest, so the operations are driven here.)"""
    base = served["server"].base
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures: list[str] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # an operation the schema does not describe validly
            failures.append(f"invalid schema: {result.err()}")
            continue
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def exercise(case: schemathesis.Case) -> None:
            parameters = case.path_parameters or {}
            if "notebook_id" in parameters and random.random() < 0.75:
                parameters["notebook_id"] = served["notebook"]
            case.call_and_validate(
                base_url=base,
                headers=served["headers"],
                checks=[not_a_server_error, response_schema_conformance],
                timeout=60,
            )

        try:
            exercise()
        except Exception as error:
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert not failures, (
        "\n\n".join(failures) + "\n--- server log ---\n" + (served["server"].output())
    )
