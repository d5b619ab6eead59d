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
from tests.support.server import Server

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
# The fuzzer is one very busy user: rate limits would answer it 429.
FUZZ_ENV = {
    "LEARNINGTOOL_RATE_SOURCES_PER_MINUTE": "0",
    "LEARNINGTOOL_RATE_CHAT_PER_MINUTE": "0",
    "LEARNINGTOOL_RATE_RESEARCH_PER_MINUTE": "0",
}
TEXT = "# Tides\n\nThe Moon's gravity raises two tidal bulges on the oceans of the Earth.\n"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        _truncate_postgres(url)
    server = Server(root / "data", url, FUZZ_ENV)
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
