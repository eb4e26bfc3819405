"""Exports run in their own process: refusals come back as one clear reason."""

from __future__ import annotations

import pytest

from bot.core.app import App
from bot.core.data.exports import EXPORT_FORMATS, export_in_own_process
from bot.core.errors import UserError
from storage.export import FORMATS


def test_the_bot_knows_the_same_formats_as_the_exporter() -> None:
    assert set(EXPORT_FORMATS) == set(FORMATS)


async def test_without_a_secret_the_export_says_so_and_writes_nothing(app: App) -> None:
    with pytest.raises(UserError, match="PICKLOOP_EXPORT_SECRET"):
        await export_in_own_process(app.settings, "pairs")
    assert not (app.settings.data_dir / "exports").exists()


async def test_an_unknown_format_is_refused(app: App) -> None:
    with pytest.raises(UserError, match="not a format"):
        await export_in_own_process(app.settings, "jpegs")
