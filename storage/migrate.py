"""Bringing a database's schema to the newest Alembic revision, from inside the application.

The Alembic configuration is built here rather than read from ``alembic.ini`` so that an
installed pickloop, which has no such file, migrates its database the same way a checkout does.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

MIGRATIONS_FOLDER = Path(__file__).with_name("migrations")

# Any fixed number works; it only has to be the same for every pickloop process.
_POSTGRESQL_MIGRATION_LOCK = 0x7069636B6C6F6F70  # "pickloop" in ASCII


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_FOLDER))
    # ConfigParser reads "%" as the start of an interpolation; passwords may contain one.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade_to_head(engine: AsyncEngine) -> bool:
    """Apply every migration the database lacks; a database already at head is left as is.
    Returns whether anything was applied.

    Safe when several processes start on the same fresh database at once (the bot and a CLI
    command): they take turns, and the later ones find nothing left to do. The same lock keeps
    two upgrades of one database within a process apart, which matters because Alembic keeps
    its running migration in module-global state.
    """
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    async with engine.begin() as connection:
        await _take_migration_lock(connection)
        return await connection.run_sync(_upgrade_on, config)


def _upgrade_on(connection: Connection, config: Config) -> bool:
    # env.py runs the migrations on this connection, inside the caller's transaction.
    config.attributes["connection"] = connection
    before = MigrationContext.configure(connection).get_current_revision()
    command.upgrade(config, "head")
    return MigrationContext.configure(connection).get_current_revision() != before


async def _take_migration_lock(connection: AsyncConnection) -> None:
    # Both locks last until the transaction ends, so the revision a process reads is still
    # the current one when it has finished migrating.
    if connection.dialect.name == "sqlite":
        # The sqlite3 driver runs DDL outside any transaction unless one is opened by hand;
        # IMMEDIATE takes the write lock now, waiting out busy_timeout for another migrator.
        await connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRESQL_MIGRATION_LOCK}
        )
