"""search indexes: embeddings cache, chunk embed hash, notebook index version, full-text

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 13:30:00

SQLite gets an FTS5 table kept in step with `chunks` by triggers (cascaded deletes fire
them too); PostgreSQL a generated `tsvector` column with a GIN index. Neither is part of
the ORM metadata: `learningtool.knowledge.lexical` queries them with SQL of its own.
A later migration that rebuilds `chunks` on SQLite (batch mode copies the table) must
create the triggers again, and `learningtool reindex` rebuilds `chunks_fts`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import learningtool.models.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_FTS = [
    "CREATE VIRTUAL TABLE chunks_fts USING fts5("
    "text, chunk_id UNINDEXED, notebook_id UNINDEXED, tokenize='porter unicode61')",
    "CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN "
    "INSERT INTO chunks_fts(rowid, text, chunk_id, notebook_id) "
    "VALUES (new.rowid, new.text, new.id, new.notebook_id); END",
    "CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN "
    "DELETE FROM chunks_fts WHERE rowid = old.rowid; END",
    "CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text ON chunks BEGIN "
    "UPDATE chunks_fts SET text = new.text WHERE rowid = old.rowid; END",
    "INSERT INTO chunks_fts(rowid, text, chunk_id, notebook_id) "
    "SELECT rowid, text, id, notebook_id FROM chunks",
]
POSTGRES_FTS = [
    "ALTER TABLE chunks ADD COLUMN tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "CREATE INDEX ix_chunks_tsv ON chunks USING gin (tsv)",
    "CREATE INDEX ix_chunks_notebook_id ON chunks (notebook_id)",
]


def upgrade() -> None:
    op.create_table(
        "embeddings",
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", learningtool.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("model", "text_hash", name=op.f("pk_embeddings")),
    )
    with op.batch_alter_table("chunks") as batch:
        batch.add_column(sa.Column("embed_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("notebooks") as batch:
        batch.add_column(
            sa.Column("index_version", sa.Integer(), nullable=False, server_default="0")
        )
    statements = SQLITE_FTS if op.get_bind().dialect.name == "sqlite" else POSTGRES_FTS
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("chunks_fts_insert", "chunks_fts_delete", "chunks_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS chunks_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_chunks_notebook_id")
        op.execute("DROP INDEX IF EXISTS ix_chunks_tsv")
        op.execute("ALTER TABLE chunks DROP COLUMN IF EXISTS tsv")
    with op.batch_alter_table("notebooks") as batch:
        batch.drop_column("index_version")
    with op.batch_alter_table("chunks") as batch:
        batch.drop_column("embed_hash")
    op.drop_table("embeddings")
