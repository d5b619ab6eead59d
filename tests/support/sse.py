"""Reading a server-sent event stream in tests."""

from __future__ import annotations

import json
from typing import Any

import httpx


async def read_events(response: httpx.Response) -> list[tuple[str, Any]]:
    """(event name, JSON data) of every event of `response`, to the end of the stream."""
    assert response.status_code == 200, response.status_code
    events: list[tuple[str, Any]] = []
    name = "message"
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            events.append((name, json.loads(line.removeprefix("data:"))))
        elif not line:
            name = "message"
    return events
