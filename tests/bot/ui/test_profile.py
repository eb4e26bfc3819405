"""Profiles in Discord: /profile, /settings personalize, --p; and the flywheel, turned by the
bot's own worker with no operator command, training a person's profile from their clicks,
testing it blind in their grids and promoting it by their votes."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.app import App
from bot.core.loop.history import history
from tests.bot.ui.conftest import StartBot
from tests.bot.ui.harness import FakeDiscord, Gateway, Person
from tests.bot.ui.test_buttons import result_of
from tests.bot.ui.test_imagine import grid_posted
from tests.bot.ui.test_settings import private_answer

ALICE = Person(400_000_000_000_000_001, "alice")
BOB = Person(400_000_000_000_000_002, "bob")


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {
        "profile_min_signals": 3,
        "flywheel_min_new_signals": 1000,
        "flywheel_train_steps": 2,
        "flywheel_min_votes": 3,
        "flywheel_share": 1.0,
        "flywheel_check_seconds": 0.2,
    }


async def posted_grid(
    gateway: Gateway, fake: FakeDiscord, person: Person, prompt: str
) -> tuple[dict[str, Any], str]:
    sent = gateway.slash(person, "imagine", prompt=prompt)
    edit = await fake.wait_for(lambda: grid_posted(fake, sent.token))
    return fake.originals[sent.token], edit.custom_ids[0].split(":")[2]


async def refusal(fake: FakeDiscord, gateway: Gateway, person: Person, prompt: str) -> str:
    sent = gateway.slash(person, "imagine", prompt=prompt)
    said = await fake.wait_for(
        lambda: next(
            (c for c in fake.calls_for(sent.token) if c.json and "content" in c.json), None
        )
    )
    return str(said.json["content"])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_profile_is_trained_tested_and_promoted_by_itself_from_discord_clicks(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    shown = await private_answer(fake_discord, gateway.slash(ALICE, "profile", "show"))
    assert "not trained yet" in shown and "(3 more)" in shown
    assert "no profile yet" in await refusal(fake_discord, gateway, ALICE, "a red circle --p")
    no_share = await private_answer(fake_discord, gateway.slash(ALICE, "profile", "share"))
    assert "no profile to share" in no_share

    # Three U-clicks: enough signals. The bot's worker turns the flywheel by itself.
    grid, job_id = await posted_grid(gateway, fake_discord, ALICE, "a red circle --steps 2")
    for index in (1, 2, 3):
        await result_of(fake_discord, gateway.click(ALICE, grid, f"pl:u:{job_id}:{index}"))

    async def collecting() -> str | None:
        rounds = await history(app.database, str(ALICE.id))
        return rounds[0].candidate if rounds and rounds[0].status == "collecting" else None

    candidate = await _eventually(collecting)
    # Her next grids compare it blind; she picks its pictures four times (4 of 4: the 95%
    # interval of its win rate lies above 50%).
    for _ in range(4):
        grid, job_id = await posted_grid(gateway, fake_discord, ALICE, "a red circle --steps 2")
        images = (await app.service.show(job_id, reveal=True)).images
        index = next(image.index for image in images if image.model == candidate)
        await result_of(fake_discord, gateway.click(ALICE, grid, f"pl:u:{job_id}:{index}"))

    async def promoted() -> bool:
        return (await history(app.database, str(ALICE.id)))[0].status == "promoted"

    await _eventually(promoted)
    shown = await private_answer(fake_discord, gateway.slash(ALICE, "profile", "show"))
    assert "trained; it last changed" in shown
    await private_answer(fake_discord, gateway.slash(ALICE, "settings", personalize=True))
    _, job_id = await posted_grid(gateway, fake_discord, ALICE, "a red circle --steps 2")
    assert (await app.service.show(job_id, reveal=True)).model == candidate

    shared = await private_answer(fake_discord, gateway.slash(ALICE, "profile", "share"))
    code = shared.split("`")[1]
    assert str(ALICE.id) not in shared and "alice" not in code
    _, job_id = await posted_grid(gateway, fake_discord, BOB, f"a red circle --p {code}")
    assert (await app.service.show(job_id, reveal=True)).model == candidate
    await private_answer(fake_discord, gateway.slash(ALICE, "profile", "revoke", code=code))
    assert "share code" in await refusal(fake_discord, gateway, BOB, f"a red circle --p {code}")


async def _eventually(check: Any, tries: int = 600) -> Any:
    import asyncio

    for _ in range(tries):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("the flywheel never got there")
