"""Deep research: the pure LangGraph agent (`agent/`) and the web search adapters (`web.py`).

The agent imports nothing from the database or the HTTP layer: what it reads and calls comes
through a `ResearchContext` given per run (see `agent/context.py`).
"""
