"""Export jobs are refused before anything is queued or written, with one clear reason."""

from __future__ import annotations

import pytest

from bot.core.actor import Actor
from bot.core.app import App
from bot.core.data.exports import EXPORT_FORMATS
from bot.core.errors import UserError
from storage.export import FORMATS

OPERATOR = Actor.local("operator")


def test_the_bot_knows_the_same_formats_as_the_exporter() -> None:
    assert set(EXPORT_FORMATS) == set(FORMATS)


async def test_without_a_secret_the_export_says_so_and_writes_nothing(app: App) -> None:
    with pytest.raises(UserError, match="PICKLOOP_EXPORT_SECRET"):
        await app.data_jobs.export(OPERATOR, "pairs")
    assert not (app.settings.data_dir / "exports").exists()
    assert await app.service.list_jobs() == []


async def test_an_unknown_format_is_refused(app: App) -> None:
    with pytest.raises(UserError, match="not a format"):
        await app.data_jobs.export(OPERATOR, "jpegs")
    assert await app.service.list_jobs() == []


async def test_training_on_no_export_yet_is_refused(app: App) -> None:
    from engine.train.options import TrainingOptions

    with pytest.raises(UserError, match="no pairs export"):
        await app.data_jobs.fine_tune(OPERATOR, TrainingOptions(method="dpo"))
    assert await app.service.list_jobs() == []
