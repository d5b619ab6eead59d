"""Alembic migrations, run at start in a worker thread through a synchronous driver.

A thread keeps Alembic's file reads and synchronous driver off the event loop; the
synchronous driver keeps a second event loop (and the engine binding it implies) out of it.
"""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from learningtool.db import sync_url


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("learningtool") / "migrations"))
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Bring the database at `url` (an async URL) to the newest revision."""
    config = alembic_config(url)
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
