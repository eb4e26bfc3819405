"""/imagine with a permutation prompt through discord.py's real dispatch: one grid per prompt,
each in a message of its own; above the threshold, a private question first."""

from __future__ import annotations

from bot.core.app import App
from tests.bot.ui.conftest import StartBot
from tests.bot.ui.harness import EPHEMERAL, Call, FakeDiscord
from tests.bot.ui.test_buttons import ALICE


def pictures_shown(fake: FakeDiscord, token: str) -> list[Call]:
    """Every edit of the answer or of its followups that put a picture up, by the job shown."""
    edits = [
        call
        for call in fake.calls_for(token)
        if call.method == "PATCH" and "/messages/" in call.path and call.files
    ]
    return list({call.custom_ids[0].split(":")[2]: call for call in edits}.values())


async def grids_shown(fake: FakeDiscord, token: str, count: int) -> list[Call]:
    def all_there() -> list[Call] | None:
        shown = pictures_shown(fake, token)
        return shown if len(shown) == count else None

    found: list[Call] = await fake.wait_for(all_there)
    return found


async def test_a_permutation_prompt_posts_one_grid_per_prompt(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    sent = gateway.slash(ALICE, "imagine", prompt="a {red, blue} circle --seed 4")

    shown = await grids_shown(fake_discord, sent.token, 2)

    jobs = [await app.service.show(call.custom_ids[0].split(":")[2]) for call in shown]
    assert sorted(job.prompt for job in jobs) == ["a blue circle", "a red circle"]
    # The first in the answer itself, the second in a message of its own.
    assert {call.path.endswith("@original") for call in shown} == {True, False}


async def test_many_grids_are_asked_for_privately_first(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    sent = gateway.slash(ALICE, "imagine", prompt="a {red, blue, green, white, black} star")
    question = await fake_discord.wait_for(lambda: fake_discord.originals.get(sent.token))

    assert question["flags"] & EPHEMERAL and "makes 5 grids" in question["content"]
    assert await app.service.list_jobs(None) == []
    confirmed = gateway.click(ALICE, question, "pl:ps")
    shown = await grids_shown(fake_discord, confirmed.token, 5)
    assert len({call.custom_ids[0] for call in shown}) == 5
