"""The research graph as `langgraph.json` serves it (`langgraph dev`, LangGraph Studio).

    POST /runs/wait {"assistant_id": "research",
                     "input": {"question": "...", "effort": "low"},
                     "config": {"configurable": {"notebook_id": "<id>"}}}

With `notebook_id`, a run searches that notebook of the app's database (the one the app in
the same server uses: `LEARNINGTOOL_*` settings from the environment) with the lexical index
(no embedding model is loaded per run); without it, the passages the run brings
(`configurable.passages`, see `in_memory_context`).
The engine is the configured LLM, or the offline one. Everything a run uses (the database
engine, the LLM client) is opened on the run's own loop and closed when it ends: with
`BG_JOB_ISOLATED_LOOPS=true` each run has a loop of its own, and nothing may be shared.

Studio is a local development tool without our bearer tokens: whoever reaches the
`langgraph dev` server can research any notebook of that data directory. The HTTP API with
its per-user checks is the way for anything else.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from langchain_core.runnables import RunnableConfig

from learningtool.config import Settings
from learningtool.db import create_engine, create_sessionmaker
from learningtool.knowledge.embed.hashing import HashingEmbedder
from learningtool.knowledge.search import Retriever
from learningtool.knowledge.vectors import VectorIndex
from learningtool.llm import create_llm_client
from learningtool.models import Notebook
from learningtool.research.agent.context import (
    MissingContext,
    ResearchContext,
    in_memory_context,
)
from learningtool.research.agent.graph import graph_factory
from learningtool.research.tasks import notebook_search


@asynccontextmanager
async def studio_context(config: RunnableConfig) -> AsyncIterator[ResearchContext]:
    configurable = config.get("configurable") or {}
    notebook_id = configurable.get("notebook_id")
    if not notebook_id:
        async with in_memory_context(config) as context:
            yield context
        return
    settings = await asyncio.to_thread(Settings)  # reads the environment and .env
    engine = await asyncio.to_thread(create_engine, settings.sqlalchemy_url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            if await session.get(Notebook, str(notebook_id)) is None:
                raise MissingContext(f"no notebook {notebook_id!r} in this data directory")
        retriever = Retriever(vectors=VectorIndex(HashingEmbedder()), graph=None)  # unused
        search_notebook = await notebook_search(sessions, retriever, str(notebook_id), "lexical")
        yield ResearchContext(
            search_notebook=search_notebook, llm=await create_llm_client(settings)
        )
    finally:
        await engine.dispose()


graph = graph_factory(studio_context)
