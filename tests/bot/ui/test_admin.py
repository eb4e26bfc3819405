"""/admin in Discord: the queue with Cancel buttons, cancelling, blocking; and who may."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.actor import Actor
from bot.core.app import App
from bot.ui import PickloopBot
from tests.bot.ui.conftest import StartBot
from tests.bot.ui.harness import EPHEMERAL, Call, FakeDiscord, Gateway, Person, Sent
from tests.bot.ui.test_fairness import queue_notice, refusal
from tests.bot.ui.test_imagine import grid_posted, last_edit

ALICE = Person(400_000_000_000_000_001, "alice")
BOB = Person(400_000_000_000_000_002, "bob")
CAROL = Person(400_000_000_000_000_003, "carol")
MODERATOR = Person(400_000_000_000_000_009, "mod", manages_server=True)
# Listed in PICKLOOP_ADMIN_IDS, without Manage Server.
OPERATOR = Person(400_000_000_000_000_010, "operator")

# Long enough for other requests to line up behind it (the tiny model is quick).
SLOW = "--steps 100"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    # One job at a time: a long job keeps the others queued, where /admin can cancel them.
    return {"max_steps": 100, "admin_ids": [OPERATOR.id], "jobs_at_once": 1}


async def answer_of(fake: FakeDiscord, sent: Sent) -> Call:
    """A command's private answer (its acknowledgement is checked to be private too)."""
    answer: Call = await fake.wait_for(lambda: last_edit(fake, sent.token))
    assert fake.calls_for(sent.token)[0].json == {"type": 5, "data": {"flags": EPHEMERAL}}
    return answer


async def is_blocked(app: App, person: Person) -> bool:
    from bot.core.actor import find_user

    async with app.database.sessions() as session:
        user = await find_user(session, Actor.discord(person.id, person.name))
    return user is not None and user.blocked


async def engine_busy_with(gateway: Gateway, fake: FakeDiscord, person: Person) -> Sent:
    blocker = gateway.slash(person, "imagine", prompt=f"a long one {SLOW}")
    bot = gateway.client
    assert isinstance(bot, PickloopBot)
    async with asyncio.timeout(60):
        while not (bot.worker and bot.worker.busy):  # noqa: ASYNC110 -- no Discord call marks the start
            await asyncio.sleep(0.01)
    return blocker


def job_in(notice: Call | None) -> str:
    assert notice is not None
    return str(notice.json["content"].split("job `")[1].split("`")[0])


async def test_someone_who_may_not_moderate_is_refused_and_nothing_changes(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()

    for sent in (
        gateway.slash(BOB, "admin", "block", user=CAROL),
        gateway.slash(BOB, "admin", "queue"),
        gateway.slash(BOB, "admin", "cancel", job_id="abc"),
    ):
        refused = await answer_of(fake_discord, sent)
        assert "Only pickloop admins" in refused.json["content"]
        assert not refused.custom_ids

    assert not await is_blocked(app, CAROL)
    sent = gateway.slash(CAROL, "imagine", prompt="still welcome --steps 2")
    await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))


async def test_the_queue_lists_jobs_and_a_cancel_click_cancels_a_queued_one(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    blocker = await engine_busy_with(gateway, fake_discord, CAROL)
    waiting = gateway.slash(ALICE, "imagine", prompt="a patient cat --steps 2")
    job_id = job_in(await fake_discord.wait_for(lambda: queue_notice(fake_discord, waiting)))

    info = (await answer_of(fake_discord, gateway.slash(ALICE, "info"))).json["content"]
    assert f"`{job_id}` position 1" in info

    listing = gateway.slash(MODERATOR, "admin", "queue")
    shown = await answer_of(fake_discord, listing)
    assert grid_posted(fake_discord, blocker.token) is None, "the long job was too short"
    lines = shown.json["content"].splitlines()
    assert "2 unfinished jobs" in lines[0]
    assert "running now · carol: a long one" in lines[1]
    assert f"`{job_id}` position 1 · alice: a patient cat" in lines[2]
    # Only the queued job can be cancelled.
    assert shown.custom_ids == [f"pl:x:{job_id}"]
    running_id = lines[1].split("`")[1]
    refused = await answer_of(
        fake_discord, gateway.slash(MODERATOR, "admin", "cancel", job_id=running_id)
    )
    assert "can't be cancelled" in refused.json["content"]

    # A click that did not come from an admin (a forged one) is refused.
    message = fake_discord.originals[listing.token]
    forged = gateway.click(BOB, message, f"pl:x:{job_id}")
    assert (
        "Only pickloop admins"
        in (await fake_discord.wait_for(lambda: refusal(fake_discord, forged))).json["content"]
    )
    assert (await app.service.show(job_id)).status == "queued"

    click = gateway.click(MODERATOR, message, f"pl:x:{job_id}")
    redrawn = await fake_discord.wait_for(lambda: last_edit(fake_discord, click.token))

    assert fake_discord.calls_for(click.token)[0].json == {"type": 6}
    assert redrawn.json["content"].startswith(f"Cancelled job `{job_id}`.")
    assert "1 unfinished job" in redrawn.json["content"]
    assert redrawn.custom_ids == []
    # Alice's message says so (and a cancelled job is never run: see
    # tests/bot/core/moderation/test_server.py).
    told = await fake_discord.wait_for(
        lambda: (
            (edit := last_edit(fake_discord, waiting.token))
            and "was cancelled" in edit.json["content"]
            and edit
        )
    )
    assert not told.files
    assert (await app.service.show(job_id)).status == "cancelled"


async def test_a_listed_admin_blocks_and_unblocks_someone(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    await engine_busy_with(gateway, fake_discord, CAROL)
    waiting = gateway.slash(BOB, "imagine", prompt="a boat --steps 2")
    job_id = job_in(await fake_discord.wait_for(lambda: queue_notice(fake_discord, waiting)))

    blocked = await answer_of(fake_discord, gateway.slash(OPERATOR, "admin", "block", user=BOB))

    assert "Blocked **bob**" in blocked.json["content"]
    assert "1 queued job" in blocked.json["content"]
    assert await is_blocked(app, BOB)
    await fake_discord.wait_for(
        lambda: "was cancelled" in (last_edit(fake_discord, waiting.token).json or {})["content"]
    )
    asked = gateway.slash(BOB, "imagine", prompt="another boat")
    refused = await fake_discord.wait_for(lambda: refusal(fake_discord, asked))
    assert refused.flags & EPHEMERAL and "blocked" in refused.json["content"]
    assert (await app.service.show(job_id)).status == "cancelled"

    unblocked = await answer_of(fake_discord, gateway.slash(OPERATOR, "admin", "unblock", user=BOB))
    assert "may use pickloop again" in unblocked.json["content"]
    assert not await is_blocked(app, BOB)
