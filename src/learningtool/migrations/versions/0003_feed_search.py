"""feed search: full-text index of feed items, and an index for filtering by kind

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 13:50:00

The same pattern as 0002: an FTS5 table with triggers on SQLite, a generated tsvector with
a GIN index on PostgreSQL.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE = [
    "CREATE VIRTUAL TABLE feed_fts USING fts5("
    "title, body, item_id UNINDEXED, notebook_id UNINDEXED, tokenize='porter unicode61')",
    "CREATE TRIGGER feed_fts_insert AFTER INSERT ON feed_items BEGIN "
    "INSERT INTO feed_fts(rowid, title, body, item_id, notebook_id) "
    "VALUES (new.rowid, new.title, new.body, new.id, new.notebook_id); END",
    "CREATE TRIGGER feed_fts_delete AFTER DELETE ON feed_items BEGIN "
    "DELETE FROM feed_fts WHERE rowid = old.rowid; END",
    "CREATE TRIGGER feed_fts_update AFTER UPDATE OF title, body ON feed_items BEGIN "
    "UPDATE feed_fts SET title = new.title, body = new.body WHERE rowid = old.rowid; END",
]
POSTGRES = [
    "ALTER TABLE feed_items ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
    "(to_tsvector('english', coalesce(title, '') || ' ' || coalesce(body, ''))) STORED",
    "CREATE INDEX ix_feed_items_tsv ON feed_items USING gin (tsv)",
]


def upgrade() -> None:
    op.create_index(
        "ix_feed_items_notebook_kind_created_id",
        "feed_items",
        ["notebook_id", "kind", "created_at", "id"],
    )
    statements = SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRES
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("feed_fts_insert", "feed_fts_delete", "feed_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS feed_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_feed_items_tsv")
        op.execute("ALTER TABLE feed_items DROP COLUMN IF EXISTS tsv")
    op.drop_index("ix_feed_items_notebook_kind_created_id", "feed_items")
