"""``/show``: a finished job comes back with its picture and buttons; refusals are private."""

from __future__ import annotations

from bot.core.actor import Actor
from bot.core.app import App
from storage.models import User
from tests.bot.ui.conftest import StartBot
from tests.bot.ui.harness import EPHEMERAL, Call, FakeDiscord, Person
from tests.bot.ui.test_buttons import imagine
from tests.bot.ui.test_imagine import grid_posted

BOB = Person(400_000_000_000_000_002, "bob")
MALLORY = Person(400_000_000_000_000_666, "mallory")


def private_reply(fake: FakeDiscord, token: str) -> Call | None:
    return next((call for call in fake.calls_for(token) if call.path.endswith(f"/{token}")), None)


async def test_show_posts_a_finished_job_again_with_its_buttons(
    start_bot: StartBot, fake_discord: FakeDiscord
) -> None:
    gateway = await start_bot()
    _, job_id = await imagine(gateway, fake_discord, "a red circle --seed 5")
    posted_first = grid_posted(fake_discord, next(iter(fake_discord.originals)))
    assert posted_first is not None

    sent = gateway.slash(BOB, "show", job_id=job_id.upper())
    again = await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))

    assert again.files[0].data == posted_first.files[0].data
    assert again.custom_ids == posted_first.custom_ids


async def test_show_of_an_unknown_job_answers_privately(
    start_bot: StartBot, fake_discord: FakeDiscord
) -> None:
    gateway = await start_bot()
    sent = gateway.slash(BOB, "show", job_id="nosuchjob0")

    reply = await fake_discord.wait_for(lambda: private_reply(fake_discord, sent.token))

    assert reply.flags & EPHEMERAL
    assert "nosuchjob0" in reply.json["content"]


async def test_a_blocked_person_is_refused_politely_and_privately(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    async with app.database.sessions.begin() as session:
        session.add(User(discord_id=MALLORY.id, display_name=MALLORY.name, blocked=True))
    gateway = await start_bot()
    sent = gateway.slash(MALLORY, "imagine", prompt="a cat")

    reply = await fake_discord.wait_for(lambda: private_reply(fake_discord, sent.token))

    assert reply.flags & EPHEMERAL
    assert "blocked" in reply.json["content"]
    assert not reply.files
    assert await app.service.list_jobs(None) == []


async def test_show_of_an_unfinished_job_says_so_and_does_not_run_it(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    queued = await app.service.imagine(Actor.discord(BOB.id, BOB.name), "a slow one")
    # Claimed by a worker elsewhere that has yet to start it: the bot's own worker leaves it.
    assert await app.queue.claim(queued.job_id, "elsewhere:1:alive")
    gateway = await start_bot()

    sent = gateway.slash(BOB, "show", job_id=queued.job_id)
    said = await fake_discord.wait_for(
        lambda: next((c for c in fake_discord.calls_for(sent.token) if c.method == "PATCH"), None)
    )

    assert f"`{queued.job_id}` is queued" in said.json["content"]
    assert not said.files and not said.custom_ids
    assert (await app.service.show(queued.job_id)).status == "queued"
