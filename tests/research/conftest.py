"""Fixtures of the research tests: a ready notebook (and another user's-like second one)."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from learningtool.jobs.worker import Worker
from tests.conftest import Api
from tests.research.test_research import BIOLOGY, HISTORY, make_notebook


@pytest.fixture
async def notebook(api: Api, client: AsyncClient) -> str:
    """A notebook with the biology notes, ready; a second notebook (history) beside it."""
    notebook = await make_notebook(client, "Bio", BIOLOGY)
    await make_notebook(client, "Hist", HISTORY)
    await Worker(api.context).drain()
    return notebook
