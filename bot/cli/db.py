"""``pickloop db``: database maintenance."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    pass
from bot.cli.common import JsonOption, read_settings

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOption = False) -> None:
    """Create or upgrade the database schema to the newest version."""
    settings = read_settings()

    async def work() -> bool:
        from bot.core.opening import open_configured_database

        database = await open_configured_database(settings)
        await database.dispose()
        return database.schema_was_upgraded

    upgraded = asyncio.run(work())
    where = settings.resolved_database_url.split("@")[-1]  # never print credentials
    if as_json:
        print(json.dumps({"upgraded": upgraded, "database": where}))
    else:
        print(f"database {'upgraded' if upgraded else 'was up to date'}: {where}")
