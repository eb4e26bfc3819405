"""Dataset exports: what ``pickloop export`` runs, and the export jobs of the queue
(``/admin export``).

An export reads every grid and encodes every picture: minutes of CPU work that must not run
on the bot's event loop, where it would hold up every acknowledgement. An export job therefore
runs in a thread of its own with its own event loop and database connection.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.core.errors import UserError
from bot.core.jobs.handlers import JobResult
from engine.types import Progress, ProgressCallback
from storage.models import Job

if TYPE_CHECKING:
    from storage.labels.curate import Curation

# The formats of ``storage.export.FORMATS``, named here so that asking for one costs no import
# of pyarrow and datasets in the bot.
EXPORT_FORMATS = ("pairs", "kto", "rankings")

RowsWritten = Callable[[int, int], None]
"""Told the rows written so far and the rows to write."""


def time_stamp(now: datetime | None = None) -> str:
    """The time in a folder name: UTC, to the second, sorting as time goes, and a few random
    letters after it: two jobs queued in one second (two admins, two processes) must not be
    given one folder."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ") + f"-{secrets.token_hex(3)}"


def export_folder(settings: Settings, format_name: str, now: datetime | None = None) -> Path:
    """A new folder under the data folder, named by format and time: exports never overwrite."""
    return (settings.data_dir / "exports" / f"{format_name}-{time_stamp(now)}").resolve()


def checked_format(name: str) -> str:
    """The format called ``name``; UserError, naming the formats, for anything else."""
    chosen = name.strip().lower()
    if chosen not in EXPORT_FORMATS:
        raise UserError(f"{name!r} is not a format; use {', '.join(EXPORT_FORMATS)}.")
    return chosen


def check_secret(settings: Settings) -> str:
    """The pseudonym secret; UserError, saying how to set one, when there is none."""
    from storage.export import MissingSecretError, Pseudonyms

    secret = settings.export_secret.get_secret_value() if settings.export_secret else ""
    try:
        Pseudonyms(secret)
    except MissingSecretError as error:
        raise UserError(str(error)) from None
    return secret


async def export_data(
    settings: Settings,
    format_name: str,
    out: Path,
    *,
    curation: Curation | None = None,
    progress: RowsWritten | None = None,
    finished_counts: bool = False,
    secret: str | None = None,
) -> dict[str, Any]:
    """Export what people did into the new folder ``out``, on a database connection of its own;
    returns what it wrote (format, folder, rows, splits, files).

    UserError when there is nothing to export or no secret; nothing is written then. An
    ImageStoreError (a picture's file is damaged) and an OSError (``out`` cannot be made) stop
    it with nothing written too. ``finished_counts``: a finished export already in ``out``
    counts as done (an export job run again after its worker died). ``secret``: the pseudonyms'
    key, instead of PICKLOOP_EXPORT_SECRET."""
    # Imported only when exporting: datasets and pyarrow take a while to load.
    from bot.core.data.curation import check_model_versions
    from bot.core.opening import open_database_with_data
    from storage.export import (
        FORMATS,
        ExportError,
        ExportOptions,
        export_from_database,
        finished_export,
    )
    from storage.imagestore import ImageStore

    chosen = FORMATS[checked_format(format_name)]
    secret = secret or check_secret(settings)
    if finished_counts and (earlier := finished_export(chosen, out)) is not None:
        return earlier.to_json()
    database = await open_database_with_data(settings)
    try:
        if curation is not None:
            await check_model_versions(database, curation)
        result = await export_from_database(
            database,
            chosen,
            out,
            read_png=ImageStore(settings.image_dir.resolve()).read,
            secret=secret,
            curation=curation,
            options=ExportOptions(license=settings.export_license),
            progress=progress,
        )
    except ExportError as error:
        raise UserError(str(error)) from None
    finally:
        await database.dispose()
    return result.to_json()


class ExportHandler:
    """Runs export jobs: the export ``pickloop export`` makes, into the folder the job names."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def run(self, job: Job, on_progress: ProgressCallback | None) -> JobResult:
        request = job.parameters.export
        if request is None:
            raise RuntimeError("this export job was stored without what to export")
        loop = asyncio.get_running_loop()

        def rows_written(written: int, total: int) -> None:
            if on_progress is not None:
                loop.call_soon_threadsafe(on_progress, Progress(step=written, total=total))

        from bot.core.data.curation import curation_from

        # The server's banned words apply to every export job (an admin's, the flywheel's),
        # as to ``pickloop export``: a word banned since leaves its prompts out of the data.
        curation = replace(curation_from(self._settings), person=request.person)

        def in_own_loop() -> dict[str, Any]:
            export = export_data(
                self._settings,
                request.format,
                Path(request.out),
                curation=curation,
                progress=rows_written,
                # Its folder was new when the job was queued: one there now was written by an
                # earlier attempt of this job, whose worker died before saying so.
                finished_counts=job.attempts > 1,
                # A training set of the flywheel: no one reads its pseudonyms.
                secret=secrets.token_hex(32) if request.internal else None,
            )
            return asyncio.run(export)

        return JobResult(outcome=await asyncio.to_thread(in_own_loop))
