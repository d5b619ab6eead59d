"""The notebook as Markdown: each source with its extracted text and the study material made
from it (summaries with key points, Q&A, flashcards), then the research reports with their
numbered citations. A research report added back as a source is shown once, under Research.

Every text that comes from a document, a user or a model is written with `<`, `>` and `&`
escaped: Markdown passes raw HTML through, so an HTML page's escaped `&lt;script&gt;` (which
extraction turns back into `<script>`) would otherwise be a live script wherever the export
is rendered. Rendered, the escapes read as the original characters.
"""

from __future__ import annotations

import html
import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.models import Notebook, ResearchRun, Source, StudyItem


def filename(name: str) -> str:
    """A safe download name: letters, digits, dashes."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:80]
    return f"{slug or 'notebook'}.md"


async def notebook_markdown(session: AsyncSession, notebook: Notebook) -> str:
    sources = (
        await session.scalars(
            select(Source)
            .where(Source.notebook_id == notebook.id)
            .order_by(Source.created_at, Source.id)
        )
    ).all()
    study = await _study_by_source(session, notebook.id)
    parts = [f"# {_one_line(notebook.name)}\n"]
    if notebook.description:
        parts.append(f"{_inert(notebook.description)}\n")
    parts.append("## Sources\n")
    for number, source in enumerate(sources, start=1):
        origin = source.url or source.original_name or source.kind
        parts.append(f"### {number}. {_one_line(source.title)}\n")
        kind = source.media_type or "unknown type"
        parts.append(f"*{_one_line(origin)}; {kind}; {source.status}*\n")
        if source.kind == "research":
            parts.append("The report is under Research below.\n")
        elif source.text:
            parts.append(_demote_headings(_inert(source.text)).strip() + "\n")
        parts.extend(_study_section(study.get(source.id, [])))
    parts.extend(await _research_section(session, notebook.id))
    return "\n".join(parts)


async def _study_by_source(session: AsyncSession, notebook_id: str) -> dict[str, list[StudyItem]]:
    items = await session.scalars(
        select(StudyItem)
        .where(StudyItem.notebook_id == notebook_id)
        .order_by(StudyItem.source_id, StudyItem.start_char, StudyItem.id)
    )
    grouped: dict[str, list[StudyItem]] = {}
    for item in items:
        grouped.setdefault(item.source_id, []).append(item)
    return grouped


def _study_section(items: list[StudyItem]) -> list[str]:
    """Summaries (with key points), Q&A and flashcards of one source, in text order."""
    if not items:
        return []
    lines = ["#### Study material\n"]
    for item in (i for i in items if i.kind == "summary"):
        lines.append(f"**Summary.** {_one_line(item.payload.get('text', ''))}\n")
        points = [_one_line(p.get("text", "")) for p in item.payload.get("key_points") or []]
        if points:
            lines.append("Key points: " + "; ".join(p for p in points if p) + "\n")
    qas = [i for i in items if i.kind == "qa"]
    if qas:
        lines.append("**Questions and answers**\n")
        lines.extend(
            f"- Q: {_one_line(i.payload.get('question', ''))}\n"
            f"  A: {_one_line(i.payload.get('answer', ''))}"
            for i in qas
        )
        lines.append("")
    cards = [i for i in items if i.kind == "flashcard"]
    if cards:
        lines.append("**Flashcards**\n")
        lines.extend(
            f"- {_one_line(i.payload.get('front', ''))} :: {_one_line(i.payload.get('back', ''))}"
            for i in cards
        )
        lines.append("")
    return lines


async def _research_section(session: AsyncSession, notebook_id: str) -> list[str]:
    runs = (
        await session.scalars(
            select(ResearchRun)
            .where(ResearchRun.notebook_id == notebook_id, ResearchRun.status == "done")
            .order_by(ResearchRun.created_at, ResearchRun.id)
        )
    ).all()
    if not runs:
        return []
    lines = ["## Research\n"]
    for number, run in enumerate(runs, start=1):
        lines.append(f"### {number}. {_one_line(run.question)}\n")
        lines.append(f"*{run.engine or 'offline'} engine; {len(run.citations)} citations*\n")
        lines.append(_demote_headings(_inert(run.report or "")).strip() + "\n")
    return lines


def _inert(text: str) -> str:
    return html.escape(text, quote=False)


def _one_line(text: object) -> str:
    return _inert(" ".join(str(text).split()))


def _demote_headings(text: str) -> str:
    """Headings inside a source sit below the source's own `###` heading."""
    return re.sub(
        r"^(#{1,6}) ", lambda m: "#" * min(6, len(m.group(1)) + 3) + " ", text, flags=re.MULTILINE
    )
