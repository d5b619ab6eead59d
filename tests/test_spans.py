"""The span seam benches time the app through: a recorder sees each declared step once it is
installed, and nothing after it is removed."""

from __future__ import annotations

import time

import pytest

from learningtool import spans


@spans.timed("tests.step")
async def step(fail: bool = False) -> str:
    if fail:
        raise ValueError("step failed")
    return "done"


async def test_a_recorder_sees_each_call_until_removed() -> None:
    seen: list[tuple[str, float, float]] = []
    remove = spans.record(lambda name, started, ended: seen.append((name, started, ended)))
    try:
        assert await step() == "done"
        with pytest.raises(ValueError):
            await step(fail=True)
    finally:
        remove()
    await step()
    assert [name for name, _, _ in seen] == ["tests.step", "tests.step"]
    assert all(started <= ended <= time.monotonic() for _, started, ended in seen)
    assert "tests.step" in spans.declared()
