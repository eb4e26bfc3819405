"""Curation options as an operator gives them (``pickloop curate`` and ``pickloop export``):
checked once, in one place, into a ``storage.labels.curate.Curation``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from bot.config import Settings
from bot.core.errors import UserError
from bot.core.moderation.banned_words import BannedWords
from storage.db import Database
from storage.labels.curate import Curation
from storage.models import ModelVersion


def curation_from(
    settings: Settings,
    *,
    min_signals: int = 0,
    min_entropy: float | None = None,
    since: str | None = None,
    until: str | None = None,
    models: Sequence[str] = (),
    keep_duplicates: bool = False,
) -> Curation:
    """The operator's filters; the server's banned words always apply."""
    banned = BannedWords(settings.banned_words)
    names = [name.strip() for name in models]
    if any(not name for name in names):
        raise UserError("--model needs a model version name")
    try:
        return Curation(
            min_signals_per_person=min_signals,
            min_position_entropy=min_entropy,
            banned_prompt=(
                (lambda text: banned.found_in(text) is not None) if settings.banned_words else None
            ),
            drop_duplicate_images=not keep_duplicates,
            since=moment("--since", since, end_of_day=False),
            until=moment("--until", until, end_of_day=True),
            model_versions=frozenset(names) if names else None,
        )
    except ValueError as error:
        raise UserError(str(error)) from None


def moment(option: str, text: str | None, *, end_of_day: bool) -> datetime | None:
    """A day (``--until`` includes it whole) or an ISO time; UTC unless it names a zone."""
    if text is None:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        pass
    else:
        start = datetime.combine(day, time(), tzinfo=UTC)
        return start + timedelta(days=1) if end_of_day else start
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(
            f"{option} {text!r} is not a date or time; use e.g. 2026-01-31 or 2026-01-31T18:00"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


async def check_model_versions(database: Database, curation: Curation) -> None:
    """Refuse a --model that names no model version, rather than curate everything away."""
    if curation.model_versions is None:
        return
    async with database.sessions() as session:
        known = set((await session.execute(select(ModelVersion.name))).scalars().all())
    unknown = curation.model_versions - known
    if unknown:
        raise UserError(
            f"no model version {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(known)) or 'none yet'}"
        )
