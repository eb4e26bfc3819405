"""/admin export: the preference data as a dataset folder on the server, for admins only."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

from bot.core.app import App
from tests.bot.ui.conftest import StartBot
from tests.bot.ui.harness import FakeDiscord, Gateway
from tests.bot.ui.test_admin import ALICE, BOB, MODERATOR, answer_of
from tests.bot.ui.test_buttons import result_of
from tests.bot.ui.test_fairness import imagine


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"export_secret": "a long random secret for the tests"}


async def clicked_grid(gateway: Gateway, fake: FakeDiscord) -> None:
    """Alice's grid, and Bob's U2 on it: three pairs to export."""
    grid, job_id = await imagine(gateway, fake, ALICE, "a red circle --steps 2")
    await result_of(fake, gateway.click(BOB, grid, f"pl:u:{job_id}:2"))


async def test_an_admin_exports_pairs_and_is_told_where(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    await clicked_grid(gateway, fake_discord)

    answer = await answer_of(
        fake_discord, gateway.slash(MODERATOR, "admin", "export", format="pairs")
    )

    content = answer.json["content"]
    assert content.startswith("Exported 3 pairs rows"), content
    folder = Path(content.split("`")[1])
    assert folder.is_relative_to(app.settings.data_dir.resolve() / "exports")
    loaded = datasets.load_dataset(str(folder))
    assert sum(split.num_rows for split in loaded.values()) == 3


async def test_someone_else_may_not_export(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    await clicked_grid(gateway, fake_discord)

    answer = await answer_of(fake_discord, gateway.slash(BOB, "admin", "export", format="kto"))

    assert "Only pickloop admins" in answer.json["content"]
    assert not (app.settings.data_dir / "exports").exists()
