"""Alembic environment: migrations run on the connection `learningtool.migrate` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from learningtool.models import Base

config = context.config
target_metadata = Base.metadata


def _include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Full-text objects are managed by raw SQL in migration 0002, not by the metadata."""
    return not (name == "tsv" or (name or "").startswith(("chunks_fts", "feed_fts")))


def _configure(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        include_object=_include_object,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _configure(connection)
else:  # `alembic` command line (autogenerate), given sqlalchemy.url
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _configure(conn)
