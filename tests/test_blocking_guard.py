"""The blocking guard is on in every test, and it does catch blocking calls in handlers."""

from __future__ import annotations

import sqlite3
import time

import pytest
from blockbuster import BlockingError

from tests.conftest import Api


@pytest.fixture
def blocking_api(api: Api) -> Api:
    async def sleepy() -> dict[str, str]:
        time.sleep(0.01)
        return {"slept": "yes"}

    async def sync_sqlite() -> dict[str, int]:
        connection = sqlite3.connect(":memory:")
        value = connection.execute("SELECT 1").fetchone()[0]
        return {"value": value}

    api.app.add_api_route("/test/sleep", sleepy)  # type: ignore[attr-defined]
    api.app.add_api_route("/test/sqlite", sync_sqlite)  # type: ignore[attr-defined]
    return api


@pytest.mark.parametrize("path", ["/test/sleep", "/test/sqlite"])
async def test_guard_catches_blocking_calls_in_a_request_handler(
    blocking_api: Api, path: str
) -> None:
    async with blocking_api.client() as http:
        with pytest.raises(BlockingError):
            await http.get(path)


async def test_the_guard_is_active_outside_handlers_too() -> None:
    with pytest.raises(BlockingError):
        time.sleep(0.001)
