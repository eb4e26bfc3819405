"""Opening what the configuration names (the data folder, the database), or one line on why
it cannot be: the front ends print it instead of a traceback."""

from __future__ import annotations

import logging

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config import Settings
from bot.core.errors import SetupError, UserError
from storage.db import Database, DatabaseUnavailable, open_database, sqlite_file

log = logging.getLogger(__name__)


def make_data_folder(settings: Settings) -> None:
    """Make PICKLOOP_DATA_DIR (images, models and the default database live there)."""
    folder = settings.data_dir
    if folder.exists() and not folder.is_dir():
        raise SetupError(f"PICKLOOP_DATA_DIR {folder} is a file, not a folder: point it at one")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        log.debug("cannot make the data folder", exc_info=True)
        raise SetupError(
            f"PICKLOOP_DATA_DIR {folder} cannot be used as a folder ({error.strerror}): "
            "point it at a folder pickloop may write in"
        ) from error


async def open_configured_database(settings: Settings) -> Database:
    """The database PICKLOOP_DATABASE_URL (or the data folder) names, its schema up to date."""
    url = settings.resolved_database_url
    try:
        return await open_database(url)
    except DatabaseUnavailable as error:
        log.debug("cannot open the database", exc_info=True)
        raise SetupError(f"the database {_shown(settings)} {error}") from error


async def open_database_with_data(settings: Settings) -> Database:
    """The configured database for a command that only reads it (curate, export): a SQLite
    file that is not there yet is not made, so that a refusal writes nothing."""
    try:
        file = sqlite_file(settings.resolved_database_url)
    except (ArgumentError, ValueError):
        file = None  # a URL that does not parse: opening it says so, in one line
    if file is not None and not file.exists():
        raise UserError(
            f"There is no data yet: {file} does not exist. Make some grids with "
            "`pickloop imagine` (or the bot) first."
        )
    return await open_configured_database(settings)


def _shown(settings: Settings) -> str:
    """How to name the database in a message: the variable, and the URL without a password."""
    if not settings.database_url:
        return f"in PICKLOOP_DATA_DIR ({settings.default_database_file})"
    try:
        safe = make_url(settings.database_url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "PICKLOOP_DATABASE_URL"
    return f"PICKLOOP_DATABASE_URL ({safe})"
