"""Alembic's environment: runs the migrations for the ``alembic`` command, the app and the tests.

Whoever calls Alembic may hand over what to migrate in ``config.attributes["connection"]``:
the app passes the sync ``Connection`` of its own transaction (from ``run_sync``), and
pytest-alembic passes an engine, sync or async. The ``alembic`` command passes nothing, and
the database named by ``PICKLOOP_DATABASE_URL`` (or ``sqlalchemy.url`` in alembic.ini) is used.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import Database, make_sqlite_folder
from storage.models import Base, UTCDateTime

config = context.config


def _render_item(kind: str, item: object, _autogen_context: AutogenContext) -> str | Literal[False]:
    # New revisions spell out plain SQLAlchemy types: a migration must keep meaning what it
    # meant when written, whatever later becomes of storage.models.
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**options: Any) -> None:
    context.configure(
        target_metadata=Base.metadata,
        # SQLite can alter a table only by copying it; batch mode writes that for us.
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
        **options,
    )


def _run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_async(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.run_sync(_run_on)
    # The pool's connections belong to the event loop asyncio.run is about to close.
    await engine.dispose()


def _database_url() -> str:
    url = os.environ.get("PICKLOOP_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database to migrate: set PICKLOOP_DATABASE_URL")
    return url


def _run() -> None:
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run_on(given)
    elif isinstance(given, Engine):
        with given.connect() as connection:
            _run_on(connection)
    elif isinstance(given, AsyncEngine):
        asyncio.run(_run_on_async(given))
    elif given is not None:
        raise TypeError(f"cannot migrate through {given!r}")
    else:
        _run_from_command_line()


def _run_from_command_line() -> None:
    # Log as alembic.ini says, without muting loggers that already exist.
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    url = _database_url()
    if context.is_offline_mode():
        _configure(url=url, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    make_sqlite_folder(url)
    # The app's own engine, so SQLite connections get the same pragmas as in production.
    asyncio.run(_run_on_async(Database(url).engine))


_run()
