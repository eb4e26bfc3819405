"""/admin export: the preference data as a dataset folder on the server, for admins only."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

from bot.core.app import App
from tests.bot.ui.conftest import StartBot
from tests.bot.ui.harness import Call, FakeDiscord, Gateway
from tests.bot.ui.test_admin import ALICE, BOB, MODERATOR, answer_of, engine_busy_with
from tests.bot.ui.test_buttons import result_of
from tests.bot.ui.test_fairness import imagine, refusal
from tests.bot.ui.test_imagine import grid_posted, last_edit


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    # One job at a time, so that a long grid keeps an export queued where it can be cancelled.
    return {
        "export_secret": "a long random secret for the tests",
        "max_steps": 100,
        "jobs_at_once": 1,
    }


async def clicked_grid(gateway: Gateway, fake: FakeDiscord) -> None:
    """Alice's grid, and Bob's U2 on it: three pairs to export."""
    grid, job_id = await imagine(gateway, fake, ALICE, "a red circle --steps 2")
    await result_of(fake, gateway.click(BOB, grid, f"pl:u:{job_id}:2"))


async def test_an_admin_exports_pairs_and_is_told_where(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    await clicked_grid(gateway, fake_discord)

    sent = gateway.slash(MODERATOR, "admin", "export", format="pairs")
    await answer_of(fake_discord, sent)
    # Queued as a job; the answer is edited once a worker has made the export.
    answer = await fake_discord.wait_for(lambda: _exported(fake_discord, sent.token))

    content = answer.json["content"]
    assert content.startswith("Exported 3 pairs rows"), content
    folder = Path(content.split("`")[1])
    assert folder.is_relative_to(app.settings.data_dir.resolve() / "exports")
    loaded = datasets.load_dataset(str(folder))
    assert sum(split.num_rows for split in loaded.values()) == 3


def _edit_saying(fake: FakeDiscord, token: str, words: str) -> Call | None:
    edit = last_edit(fake, token)
    return edit if edit is not None and words in edit.json["content"] else None


def _exported(fake: FakeDiscord, token: str) -> Call | None:
    return _edit_saying(fake, token, "Exported")


async def test_someone_else_may_not_export(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    await clicked_grid(gateway, fake_discord)

    sent = gateway.slash(BOB, "admin", "export", format="kto")
    answer = await fake_discord.wait_for(lambda: refusal(fake_discord, sent))

    assert "Only pickloop admins" in answer.json["content"]
    assert not (app.settings.data_dir / "exports").exists()
    assert [view.kind for view in await app.service.list_jobs()] == ["upscale", "imagine"]


async def test_an_admin_fine_tunes_on_the_newest_export_and_is_told_where_the_adapter_is(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    await clicked_grid(gateway, fake_discord)
    exported = gateway.slash(MODERATOR, "admin", "export", format="pairs")
    await fake_discord.wait_for(lambda: _exported(fake_discord, exported.token))

    sent = gateway.slash(MODERATOR, "admin", "train", method="dpo", steps=4)
    await answer_of(fake_discord, sent)
    answer = await fake_discord.wait_for(
        lambda: _edit_saying(fake_discord, sent.token, "Fine-tuned"), within=300
    )

    adapter = Path(answer.json["content"].split("`")[1])
    assert (adapter / "pytorch_lora_weights.safetensors").is_file()
    jobs = {view.kind: view for view in await app.service.list_jobs()}
    assert jobs["fine_tune"].status == "done"
    assert jobs["fine_tune"].outcome is not None
    assert jobs["fine_tune"].outcome["adapter"] == str(adapter)
    assert jobs["fine_tune"].outcome["steps"] == 4
    assert jobs["export"].outcome is not None and jobs["export"].outcome["rows"] == 3


async def test_a_queued_export_cancelled_by_an_admin_never_runs(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    await clicked_grid(gateway, fake_discord)
    blocker = await engine_busy_with(gateway, fake_discord, ALICE)
    sent = gateway.slash(MODERATOR, "admin", "export", format="kto")
    await answer_of(fake_discord, sent)
    [export] = [view for view in await app.service.list_jobs() if view.kind == "export"]
    assert export.status == "queued"

    cancel = gateway.slash(MODERATOR, "admin", "cancel", job_id=export.job_id)
    assert "Cancelled" in (await answer_of(fake_discord, cancel)).json["content"]

    # The admin's export answer says so; the grid ahead of it still finishes.
    await fake_discord.wait_for(lambda: _edit_saying(fake_discord, sent.token, "was cancelled"))
    await fake_discord.wait_for(lambda: grid_posted(fake_discord, blocker.token))
    assert (await app.service.show(export.job_id)).status == "cancelled"
    assert not (app.settings.data_dir / "exports").exists()
