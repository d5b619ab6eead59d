"""Prompts and reply schemas of the LLM engine (planning, reflection, report).

Source text reaches the model only inside `delimit(...)` blocks (treated as data, never as
instructions; `LlmClient` appends the rule to every system prompt). The question is the
user's own and goes in as it is.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from learningtool.llm import delimit
from learningtool.research.agent.state import Evidence

SOURCE_CHARS_REFLECT = 600  # per source, when judging coverage
SOURCE_CHARS_REPORT = 1800  # per source, when writing
MAX_REFLECT_SOURCES = 24


class Plan(BaseModel):
    queries: list[str] = Field(min_length=1, description="search queries, most important first")


class ReflectionReply(BaseModel):
    sufficient: bool = Field(description="true when the sources answer every part of the question")
    gaps: list[str] = Field(default_factory=list, description="aspects the sources do not answer")
    follow_up_queries: list[str] = Field(
        default_factory=list, description="new search queries that would fill the gaps"
    )


PLAN_SYSTEM = """You plan the searches of a research assistant.
The searches run over {where}. Write at most {n} short search queries (a few keywords each,
not full sentences) that together cover the distinct aspects of the question; the first one
targets its core. Do not repeat a query."""

PLAN_USER = "Research question: {question}"

REFLECT_SYSTEM = """You check whether the sources found so far answer a research question.
Decide whether they are sufficient to write a complete, well supported answer. If not, name
the gaps (aspects of the question the sources do not answer) and write at most {n} new short
search queries (keywords) for them, different from the queries already run."""

REFLECT_USER = """Research question: {question}

Queries already run:
{queries}

Sources found ({count}):
{sources}"""

REPORT_SYSTEM = """You write a research report in Markdown that answers the question using
only the numbered sources given.
- Start with a "# " title, then organise the answer in short sections.
- Support every statement with the number of its source in square brackets right after it,
  like [2] or [1][3]. Use only the numbers of the sources listed; never invent a number.
  Numbers in brackets that appear inside a source's text are not source numbers.
- Do not state anything the sources do not say. Where sources disagree, say so.
- End with a section "## What the sources do not cover" listing the parts of the question the
  sources leave open (or saying that they cover it).
- Do not add a list of sources or references: it is added automatically."""

REPORT_USER = """Research question: {question}

Sources:
{sources}"""


def where(web: bool) -> str:
    return (
        "the user's notebook (their own documents) and the web"
        if web
        else ("the user's notebook (their own documents)")
    )


def render_sources(numbered: dict[int, Evidence], max_chars: int) -> str:
    """Each source as `Source [n] (kind)` and its title and text in a delimited block."""
    blocks = []
    for n, item in numbered.items():
        kind = "web page" if item["kind"] == "web" else "notebook passage"
        text = item["text"]
        if len(text) > max_chars:
            text = text[:max_chars].rsplit(" ", 1)[0] + " ..."
        title = item["title"] or item["url"] or "untitled"
        body = delimit(f"source-{n}", f"title: {title}\n\n{text}")
        blocks.append(f"Source [{n}] ({kind})\n{body}")
    return "\n\n".join(blocks) if blocks else "(none)"


def bullet_list(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items) if items else "(none)"
