"""Hearing of queue changes made by other processes.

On PostgreSQL every job queued or finished is announced on one channel (``storage.queue``):
listening costs one connection and brings the news at once. SQLite has no such thing; there,
the processes poll, and ``listen`` does nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from storage.db import Database
from storage.queue import CHANNEL

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def listen(database: Database, on_notice: Callable[[str], None]) -> AsyncIterator[bool]:
    """Call ``on_notice(job_id)`` for every announcement while inside; yields whether the
    database announces at all (False: poll instead)."""
    if database.engine.dialect.name != "postgresql":
        yield False
        return
    async with database.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection

        def heard(_connection: object, _pid: int, _channel: str, payload: str) -> None:
            on_notice(payload)

        await driver.add_listener(CHANNEL, heard)
        try:
            yield True
        finally:
            with contextlib.suppress(Exception):
                await driver.remove_listener(CHANNEL, heard)
