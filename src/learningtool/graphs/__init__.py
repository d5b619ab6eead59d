"""LangGraph graphs served by `langgraph dev` (registered in `langgraph.json` under `graphs`).

Each module exposes a compiled graph as `graph`. Nodes are async and must not block the
event loop: `langgraph dev` runs them with blocking detection on.
"""
