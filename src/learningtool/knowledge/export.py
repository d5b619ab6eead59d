"""The notebook as Markdown: its sources with their extracted text (and, as later parts of
the product add them, summaries, cards and research reports with their citations)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from learningtool.models import Notebook, Source


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
    parts = [f"# {notebook.name}\n"]
    if notebook.description:
        parts.append(f"{notebook.description}\n")
    parts.append("## Sources\n")
    for number, source in enumerate(sources, start=1):
        origin = source.url or source.original_name or source.kind
        parts.append(f"### {number}. {source.title}\n")
        parts.append(f"*{origin}; {source.media_type or 'unknown type'}; {source.status}*\n")
        if source.text:
            parts.append(_demote_headings(source.text).strip() + "\n")
    return "\n".join(parts)


def _demote_headings(text: str) -> str:
    """Headings inside a source sit below the source's own `###` heading."""
    return re.sub(
        r"^(#{1,6}) ", lambda m: "#" * min(6, len(m.group(1)) + 3) + " ", text, flags=re.MULTILINE
    )
