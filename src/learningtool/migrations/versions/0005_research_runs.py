"""research runs: options, progress events, token use and the report's source; topic subjects

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("research_runs") as batch:
        batch.add_column(
            sa.Column("use_web", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("engine", sa.String(16), nullable=True))
        batch.add_column(sa.Column("events", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("usage", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("warnings", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("source_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("user_id", sa.String(32), nullable=True))
    with op.batch_alter_table("topics") as batch:
        batch.add_column(sa.Column("subject", sa.String(500), nullable=False, server_default=""))
        batch.add_column(sa.Column("engine", sa.String(16), nullable=False, server_default=""))
        batch.add_column(sa.Column("source_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("topics") as batch:
        for column in ("source_id", "engine", "subject"):
            batch.drop_column(column)
    with op.batch_alter_table("research_runs") as batch:
        for column in ("user_id", "source_id", "warnings", "usage", "events", "engine", "use_web"):
            batch.drop_column(column)
