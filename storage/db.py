"""The connection to the database: one engine and its session factory, for SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.migrate import upgrade_to_head

# Readers (the bot answering a click) never wait for the writer (a finishing job).
_SQLITE_JOURNAL_MODE = "PRAGMA journal_mode=WAL"
# The bot and a CLI command may write at the same moment; wait this long rather than fail.
_SQLITE_BUSY_TIMEOUT_SECONDS = 10.0

# Set on every new connection: SQLite keeps none of these per database, only per connection.
_SQLITE_PRAGMAS = (
    f"PRAGMA busy_timeout={int(_SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}",
    # Off by default in SQLite; without it ON DELETE CASCADE / SET NULL silently do nothing.
    "PRAGMA foreign_keys=ON",
    # NORMAL would skip an fsync per commit but may lose the last commits in a power cut;
    # an accepted job must survive one, and commits come at human pace anyway.
    "PRAGMA synchronous=FULL",
)
# How long opening a PostgreSQL connection may take before the server counts as unreachable
# (asyncpg's own default is a minute, a long silence for a command that will fail anyway).
_POSTGRES_CONNECT_TIMEOUT_SECONDS = 10
# The drivers pickloop is built and tested with, named when a URL asks for another.
SUPPORTED_URLS = "sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DATABASE"
# The database holds Discord ids, names and prompts: only its owner may read it, as with
# the stored images. Its folder, when pickloop makes it, is the owner's alone too.
_OWNER_ONLY_FILE = 0o600
_OWNER_ONLY_FOLDER = 0o700
# Beside the database in WAL mode; SQLite gives them the database file's own mode.
_SQLITE_SIDE_FILES = ("-wal", "-shm")


class DatabaseUnavailable(Exception):
    """The database cannot be opened as given: the message says why, in one line, and names
    no password."""


class Database:
    """An async engine and the sessions made from it.

    Sessions keep their objects' loaded values after commit (``expire_on_commit=False``): in
    async code an expired attribute cannot be reloaded implicitly, and the bot reads a job's
    fields after committing it.
    """

    def __init__(self, url: str) -> None:
        # pre_ping: a restarted PostgreSQL server should not cost the next request an error.
        connect_args: dict[str, Any] = {}
        if make_url(url).get_driver_name() == "asyncpg":
            connect_args["timeout"] = _POSTGRES_CONNECT_TIMEOUT_SECONDS
        self.engine: AsyncEngine = create_async_engine(
            url, pool_pre_ping=True, connect_args=connect_args
        )
        # Whether upgrade() found migrations to apply, e.g. for `pickloop db upgrade` to say.
        self.schema_was_upgraded = False
        if self.engine.dialect.name == "sqlite":
            file = sqlite_file(url)
            if file is not None:
                # Registered first: the file is owner-only before WAL makes its side files.
                _keep_owner_only(self.engine.sync_engine, file)
            event.listen(self.engine.sync_engine, "connect", _set_sqlite_pragmas)
            event.listen(self.engine.sync_engine, "savepoint", _begin_before_savepoint)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )

    def __repr__(self) -> str:
        return f"Database({self.engine.url!r})"

    async def upgrade(self) -> None:
        """Bring the schema to the newest migration; nothing happens when it is there already
        (``schema_was_upgraded`` tells which)."""
        self.schema_was_upgraded = await upgrade_to_head(self.engine) or self.schema_was_upgraded

    async def dispose(self) -> None:
        await self.engine.dispose()


async def open_database(url: str) -> Database:
    """A ready database: the SQLite file's folder is made and the schema brought up to date.

    Raises ``DatabaseUnavailable`` when the URL, its driver, the server or the file is wrong."""
    database = _database_at(url)
    try:
        await database.upgrade()
    except BaseException as error:
        await database.dispose()
        problem = _unreachable(error)
        if problem is None:
            raise
        raise DatabaseUnavailable(problem) from error
    return database


def _database_at(url: str) -> Database:
    """The database a URL names, not yet connected to; a URL that cannot name one is refused."""
    try:
        make_url(url)
    except (exc.ArgumentError, ValueError) as error:  # ValueError: a port that is no number
        # The text itself is not repeated: it may hold a password.
        raise DatabaseUnavailable(f"is not a database URL; give {SUPPORTED_URLS}") from error
    try:
        make_sqlite_folder(url)
        return Database(url)
    except (exc.NoSuchModuleError, ModuleNotFoundError) as error:
        raise DatabaseUnavailable(
            f"asks for a driver that is not installed; give {SUPPORTED_URLS}"
        ) from error
    except exc.InvalidRequestError as error:
        # create_async_engine refuses a driver that is not async (sqlite:// means pysqlite).
        raise DatabaseUnavailable(
            f"names a driver that is not asynchronous; give {SUPPORTED_URLS}"
        ) from error
    except OSError as error:
        raise DatabaseUnavailable(
            f"is a SQLite file whose folder cannot be made ({error.strerror}: {error.filename})"
        ) from error


def _unreachable(error: BaseException) -> str | None:
    """One line on why the first connection failed, or None for an error of another kind."""
    cause = error.orig if isinstance(error, exc.DBAPIError) and error.orig else error
    # "file is not a database", "database disk image is malformed": DatabaseError itself. Its
    # subclass OperationalError is another story (a locked database, a folder not writable).
    damaged = type(cause) is sqlite3.DatabaseError or "file is not a database" in str(cause)
    if damaged:
        return (
            "names a file that is not a SQLite database (damaged, truncated or another file): "
            "restore it from a backup, or move it away to start a new one"
        )
    if isinstance(error, OSError | asyncio.TimeoutError | exc.DBAPIError):
        reason = " ".join(str(cause).split()) or type(cause).__name__
        return f"cannot be reached or opened ({reason[:200]})"
    return None


def make_sqlite_folder(url: str) -> None:
    """Create the folder a SQLite file will live in, owner-only; SQLite makes the file but
    not its folder. A folder that is there already is left as its owner set it."""
    file = sqlite_file(url)
    if file is None:
        return
    missing: list[Path] = []
    folder = file.parent
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for new_folder in reversed(missing):
        new_folder.mkdir(mode=_OWNER_ONLY_FOLDER, exist_ok=True)  # another process may race


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for anything else (another database, memory, a URI)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def _keep_owner_only(engine: Engine, file: Path) -> None:
    def before_connect(*_args: Any) -> None:
        _create_owner_only(file)

    def on_connect(*_args: Any) -> None:
        # A database from before files were made owner-only, and what a crash left of its
        # side files, are the operator's data as much as a new one.
        for path in (file, *(file.with_name(file.name + end) for end in _SQLITE_SIDE_FILES)):
            _make_owner_only(path)

    event.listen(engine, "do_connect", before_connect)
    event.listen(engine, "connect", on_connect)


def _create_owner_only(file: Path) -> None:
    # SQLite would create a missing file readable by all (0644 under the usual umask), and
    # a reader opening it before a later chmod would keep reading. An empty file is a valid
    # new database. Any other failure (no folder, no right to write there) is left for
    # SQLite to report in its own words as it opens the file.
    with contextlib.suppress(OSError):
        os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _OWNER_ONLY_FILE))


def _make_owner_only(path: Path) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            path.chmod(mode & stat.S_IRWXU)
    # Not there (a side file SQLite has not made), or another account's file: an operator
    # who shares the database on purpose owns it under another name, and keeps their say.
    except (FileNotFoundError, PermissionError):
        pass


def _set_sqlite_pragmas(dbapi_connection: Any, _connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        _switch_to_wal(dbapi_connection, cursor)
    finally:
        cursor.close()


def _switch_to_wal(dbapi_connection: Any, cursor: Any) -> None:
    # A database already in WAL stays so and this returns at once. A new, still empty file
    # is switched by the first connection; a second one arriving meanwhile (the bot and a CLI
    # command starting together on a fresh install) is refused at once, without busy_timeout,
    # so it waits here, handing the event loop back, until the first has written the file.
    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_SECONDS
    while True:
        try:
            cursor.execute(_SQLITE_JOURNAL_MODE)
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        dbapi_connection.run_async(lambda _driver_connection: asyncio.sleep(0.02))


def _begin_before_savepoint(connection: Connection, _name: str | None) -> None:
    # The sqlite3 driver opens a transaction only before the first write, so reads alone
    # leave none open. A SAVEPOINT then opens one itself, and releasing that savepoint
    # commits it: a request that failed after the savepoint would keep what was written
    # inside it. An explicit BEGIN first makes the savepoint nest as on PostgreSQL.
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None  # a connection in use is never detached
    if not driver_connection.in_transaction:
        connection.exec_driver_sql("BEGIN")


def rows_changed(result: object) -> int:
    """How many rows an UPDATE or DELETE touched (compare-and-set writes check this)."""
    # Such results carry rowcount; the typed Result interface does not declare it.
    return int(getattr(result, "rowcount", 0) or 0)
