import asyncio
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from storage import Database, User, open_database

HEAD_TABLES = {
    "alembic_version",
    "users",
    "model_versions",
    "jobs",
    "images",
    "image_prompts",
    "events",
    "profiles",
    "profile_shares",
    "flywheel_rounds",
}


async def _tables(database: Database) -> set[str]:
    async with database.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    return set(names)


async def test_opening_an_empty_database_creates_the_schema(database_url: str) -> None:
    database = await open_database(database_url)
    try:
        assert await _tables(database) == HEAD_TABLES
    finally:
        await database.dispose()


async def test_opening_again_keeps_what_was_stored(database_url: str) -> None:
    first = await open_database(database_url)
    async with first.sessions.begin() as session:
        session.add(User(local_name="ada", display_name="Ada"))
    await first.dispose()

    second = await open_database(database_url)
    try:
        async with second.sessions() as session:
            names = (await session.scalars(select(User.local_name))).all()
        assert names == ["ada"]
    finally:
        await second.dispose()


async def test_processes_opening_a_new_database_at_once_all_succeed(
    database_url: str,
) -> None:
    # Engines stand for processes (the bot, CLI commands) starting together on a fresh install.
    databases = await asyncio.gather(*(open_database(database_url) for _ in range(3)))
    try:
        assert await _tables(databases[0]) == HEAD_TABLES
    finally:
        for database in databases:
            await database.dispose()


async def test_upgrade_on_an_up_to_date_database_changes_nothing(database: Database) -> None:
    async with database.sessions.begin() as session:
        session.add(User(local_name="ada", display_name="Ada"))

    await database.upgrade()

    async with database.sessions() as session:
        assert (await session.scalars(select(User.local_name))).all() == ["ada"]


async def test_the_sqlite_file_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "pickloop-data" / "nested" / "pickloop.db"

    database = await open_database(f"sqlite+aiosqlite:///{path}")
    await database.dispose()

    assert path.is_file()


@pytest.fixture
def umask_0022() -> Iterator[None]:
    """The usual umask, under which SQLite and mkdir alone make what every account can read."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _with_side_files(path: Path) -> list[Path]:
    return [path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")]


@pytest.mark.usefixtures("umask_0022")
async def test_a_new_sqlite_database_and_its_folders_are_the_owners_alone(
    tmp_path: Path,
) -> None:
    data = tmp_path / "pickloop-data"
    path = data / "nested" / "pickloop.db"
    tmp_mode = _mode(tmp_path)

    database = await open_database(f"sqlite+aiosqlite:///{path}")
    try:
        async with database.sessions.begin() as session:
            session.add(User(local_name="ada", display_name="Ada"))
        # The pool keeps the connection open, so the WAL side files are there, with Ada's row.
        modes = {file.name: _mode(file) for file in _with_side_files(path)}
    finally:
        await database.dispose()

    assert modes == {"pickloop.db": 0o600, "pickloop.db-wal": 0o600, "pickloop.db-shm": 0o600}
    assert (_mode(data), _mode(path.parent)) == (0o700, 0o700)
    assert _mode(tmp_path) == tmp_mode  # a folder that was there already is the operator's


@pytest.mark.usefixtures("umask_0022")
async def test_an_existing_sqlite_database_is_made_the_owners_alone(tmp_path: Path) -> None:
    path = tmp_path / "pickloop.db"
    # A database from before, as SQLite makes it, open in another process (here sqlite3 in
    # this one) so that its side files are there too, as a crash would leave them.
    earlier = sqlite3.connect(path)
    try:
        earlier.execute("PRAGMA journal_mode=WAL")
        earlier.execute("CREATE TABLE earlier (note TEXT)")
        earlier.execute("INSERT INTO earlier VALUES ('a prompt')")
        earlier.commit()
        assert [_mode(file) for file in _with_side_files(path)] == [0o644] * 3

        database = await open_database(f"sqlite+aiosqlite:///{path}")
        await database.dispose()

        assert [_mode(file) for file in _with_side_files(path)] == [0o600] * 3
        assert earlier.execute("SELECT note FROM earlier").fetchall() == [("a prompt",)]
    finally:
        earlier.close()


async def test_every_sqlite_connection_gets_the_pragmas(tmp_path: Path) -> None:
    database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'pickloop.db'}")
    try:
        # Two connections held at once, so the second is a new one, not the first reused.
        async with database.engine.connect() as first, database.engine.connect() as second:
            for connection in (first, second):
                pragmas = {
                    name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                    for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
                }
                assert pragmas == {
                    "journal_mode": "wal",
                    "foreign_keys": 1,
                    "busy_timeout": 10000,
                    "synchronous": 2,  # FULL
                }
    finally:
        await database.dispose()


async def test_sessions_keep_values_after_commit(database: Database) -> None:
    async with database.sessions() as session:
        user = User(local_name="ada", display_name="Ada")
        session.add(user)
        await session.commit()

    # Expired values could not be reloaded here, outside the session: reading them would raise.
    assert isinstance(user.id, int)
    assert user.display_name == "Ada"


async def test_a_percent_sign_in_the_url_is_taken_literally(tmp_path: Path) -> None:
    # Alembic's ini-style config would read "%" as the start of an interpolation.
    url = f"sqlite+aiosqlite:///{tmp_path / 'odd%20name.db'}"

    database = await open_database(url)
    try:
        assert await _tables(database) == HEAD_TABLES
    finally:
        await database.dispose()


async def test_rolling_back_undoes_work_done_inside_a_savepoint(database: Database) -> None:
    async with database.sessions() as session:
        await session.scalars(select(User))  # reads first, as a get-or-create does
        async with session.begin_nested():
            session.add(User(local_name="mallory", display_name="Mallory"))
        await session.rollback()

    async with database.sessions() as session:
        assert (await session.scalars(select(User))).all() == []


async def test_a_failed_savepoint_keeps_the_rest_of_the_transaction(database: Database) -> None:
    async with database.sessions() as session:
        session.add(User(local_name="ada", display_name="Ada"))
        await session.flush()
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                session.add(User(local_name="ada", display_name="Ada again"))
        await session.commit()

    async with database.sessions() as session:
        assert (await session.scalars(select(User.display_name))).all() == ["Ada"]
