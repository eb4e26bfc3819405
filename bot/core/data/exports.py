"""Dataset exports asked for from Discord (``/admin export``), run as ``pickloop export``.

An export reads every grid and encodes every picture: minutes of CPU work that must not run
on the bot's event loop, where it would hold up every acknowledgement. So it runs in a process
of its own, the same ``pickloop export`` an operator runs at the terminal, told the bot's own
settings through its environment.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings
from bot.core.errors import UserError

# The formats of ``storage.export.FORMATS``, named here so that asking for one costs no import
# of pyarrow and datasets in the bot.
EXPORT_FORMATS = ("pairs", "kto", "rankings")


@dataclass(frozen=True)
class ExportDone:
    format: str
    folder: Path
    rows: int
    splits: dict[str, int]


def export_folder(settings: Settings, format_name: str, now: datetime | None = None) -> Path:
    """A new folder under the data folder, named by format and time: exports never overwrite."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return (settings.data_dir / "exports" / f"{format_name}-{stamp}").resolve()


async def export_in_own_process(settings: Settings, format_name: str) -> ExportDone:
    """Run ``pickloop export`` for ``format_name`` into a new folder; UserError with its reason
    when it refuses (no secret, nothing to export)."""
    if format_name not in EXPORT_FORMATS:
        raise UserError(f"{format_name!r} is not a format; use {', '.join(EXPORT_FORMATS)}.")
    out = export_folder(settings, format_name)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "export",
        "--format",
        format_name,
        "--out",
        str(out),
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_environment(settings),
    )
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        lines = stderr.decode(errors="replace").strip().splitlines()
        reason = lines[-1].removeprefix("pickloop: ") if lines else "no reason given"
        raise UserError(f"The export did not run: {reason}")
    done = json.loads(stdout.decode().strip().splitlines()[-1])
    return ExportDone(done["format"], Path(done["folder"]), int(done["rows"]), done["splits"])


def _environment(settings: Settings) -> dict[str, str]:
    """The bot's settings, as the child reads them (they may have come from a .env file or
    from code, not from this process's environment)."""
    env = dict(os.environ)
    env["PICKLOOP_DATA_DIR"] = str(settings.data_dir.resolve())
    env["PICKLOOP_DATABASE_URL"] = settings.resolved_database_url
    env["PICKLOOP_EXPORT_LICENSE"] = settings.export_license
    env.pop("PICKLOOP_EXPORT_SECRET", None)
    if settings.export_secret is not None:
        env["PICKLOOP_EXPORT_SECRET"] = settings.export_secret.get_secret_value()
    return env
