"""sources: one form of media type (the MIME type); uploads used to be stored by their short
kind ("pdf") until processed, pasted text as "text" and research reports as "markdown"

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The short kinds of `learningtool.ingestion.document.Kind` and their MIME types, as they
# were on the day of this migration (a migration does not import application code).
MIME_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "tiff": "image/tiff",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "m4a": "audio/mp4",
    "html": "text/html",
    "markdown": "text/markdown",
    "text": "text/plain",
}


def upgrade() -> None:
    sources = sa.table("sources", sa.column("media_type", sa.String))
    for short, mime in MIME_TYPES.items():
        op.execute(sources.update().where(sources.c.media_type == short).values(media_type=mime))


def downgrade() -> None:
    pass  # the MIME types are valid for the code before this revision too
