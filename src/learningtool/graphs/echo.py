"""`echo`: the smallest real graph, one async node that answers with the message it got.

It proves that `langgraph dev` loads our graphs next to the app (see `langgraph.json`) and
gives a run something to check: `POST /runs/wait` with `{"assistant_id": "echo",
"input": {"message": "hi"}}` returns `{"reply": "hi", "length": 2}`.
"""

from __future__ import annotations

from typing import TypedDict

from langgraph.graph import END, START, StateGraph


class EchoInput(TypedDict):
    message: str


class EchoOutput(TypedDict):
    reply: str
    length: int


class EchoState(EchoInput, EchoOutput):
    pass


async def echo(state: EchoInput) -> EchoOutput:
    """Answer with the message and its length in characters."""
    return {"reply": state["message"], "length": len(state["message"])}


builder = StateGraph(EchoState, input_schema=EchoInput, output_schema=EchoOutput)
builder.add_node("echo", echo)
builder.add_edge(START, "echo")
builder.add_edge("echo", END)
graph = builder.compile(name="echo")
