"""pytest-alembic's built-in checks of the migration history, on SQLite and on PostgreSQL.

These tests stay synchronous: pytest-alembic drives an async engine with ``asyncio.run``,
which cannot run inside a test's own event loop.
"""

import asyncio

import pytest
from alembic.config import Config
from pytest_alembic import MigrationContext
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import Database
from storage.migrate import alembic_config as storage_alembic_config

__all__ = [
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]


@pytest.fixture
def alembic_config(database_url: str) -> Config:
    return storage_alembic_config(database_url)


@pytest.fixture
def alembic_engine(database_url: str) -> AsyncEngine:
    # The app's own engine, so migrations run under the same SQLite pragmas as in production.
    return Database(database_url).engine


def test_downgrade_to_base_leaves_no_table_behind(
    alembic_runner: MigrationContext, alembic_engine: AsyncEngine
) -> None:
    alembic_runner.migrate_up_to("heads")
    assert {"users", "model_versions", "jobs", "images", "events"} <= _tables(alembic_engine)

    alembic_runner.migrate_down_to("base")

    assert _tables(alembic_engine) == {"alembic_version"}


def _tables(engine: AsyncEngine) -> set[str]:
    async def read() -> set[str]:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        await engine.dispose()
        return set(names)

    return asyncio.run(read())
