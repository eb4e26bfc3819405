"""Fair turns and limits in Discord: caps, round-robin between people, queue positions, and
banned words."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.core.actor import Actor
from bot.core.app import App
from bot.ui import PickloopBot
from storage.models import Job, JobStatus
from tests.bot.ui.conftest import StartBot, abandon
from tests.bot.ui.harness import EPHEMERAL, Call, FakeDiscord, Gateway, Person, Sent
from tests.bot.ui.test_imagine import grid_posted

ALICE = Person(400_000_000_000_000_001, "alice")
BOB = Person(400_000_000_000_000_002, "bob")
CAROL = Person(400_000_000_000_000_003, "carol")

# Long enough for the other requests to line up behind it (the tiny model is quick).
SLOW = "--steps 100"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {
        "queue_per_person": 3,
        "banned_words": ["ogre", "forbidden fruit"],
        "max_steps": 100,
        # One job at a time, so that every place in line is known; running several at once is
        # the worker's own test (tests/bot/core/test_worker.py).
        "jobs_at_once": 1,
    }


def refusal(fake: FakeDiscord, sent: Sent) -> Call | None:
    """The private follow-up that replaces a refused request's public "thinking…"."""
    return next(
        (
            call
            for call in fake.calls_for(sent.token)
            if call.method == "POST" and call.path.startswith("/webhooks/")
        ),
        None,
    )


def queue_notice(fake: FakeDiscord, sent: Sent) -> Call | None:
    return next(
        (
            call
            for call in fake.calls_for(sent.token)
            if call.method == "PATCH" and "Queued: position" in (call.json or {}).get("content", "")
        ),
        None,
    )


async def job_rows(app: App) -> int:
    async with app.database.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Job))).scalar_one())


def position_in(call: Call | None) -> int:
    assert call is not None
    return int(call.json["content"].split("Queued: position ")[1].split()[0])


async def grid_of(fake: FakeDiscord, sent: Sent) -> Call:
    found: Call = await fake.wait_for(lambda: grid_posted(fake, sent.token))
    return found


def job_of(call: Call) -> str:
    return call.custom_ids[0].split(":")[2]


async def imagine(
    gateway: Gateway, fake: FakeDiscord, person: Person, prompt: str
) -> tuple[dict[str, Any], str]:
    """A finished grid as Discord holds it (the message a click comes from), and its job id."""
    sent = gateway.slash(person, "imagine", prompt=prompt)
    shown = await grid_of(fake, sent)
    return fake.originals[sent.token], job_of(shown)


def bot_of(gateway: Gateway) -> PickloopBot:
    bot = gateway.client
    assert isinstance(bot, PickloopBot)
    return bot


async def test_over_the_per_person_cap_is_refused_privately_and_writes_nothing(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    bot = bot_of(gateway)
    blocker = gateway.slash(CAROL, "imagine", prompt=f"a long one {SLOW}")
    async with asyncio.timeout(30):
        while not (bot.worker and bot.worker.busy):  # noqa: ASYNC110 -- no Discord call marks it
            await asyncio.sleep(0.01)
    asked = [gateway.slash(ALICE, "imagine", prompt=f"circle {n} --steps 2") for n in range(4)]

    # Four while the engine is busy, three allowed: whichever is written last finds the
    # others still queued.
    def refusals() -> list[Call]:
        return [call for sent in asked if (call := refusal(fake_discord, sent)) is not None]

    [refused] = await fake_discord.wait_for(refusals)
    [late] = [sent for sent in asked if refusal(fake_discord, sent) is refused]
    for sent in asked:
        if sent is not late:
            await fake_discord.wait_for(lambda sent=sent: grid_posted(fake_discord, sent.token))

    assert refused.flags & EPHEMERAL
    assert "Try again" in refused.json["content"]
    assert [call.method for call in fake_discord.calls_for(late.token)][1:] == [
        "DELETE",  # the public "thinking…" goes away
        "POST",
    ]
    assert await job_rows(app) == 4  # Carol's and three of Alice's
    await fake_discord.wait_for(lambda: grid_posted(fake_discord, blocker.token))
    # Once her jobs are done, she may ask again.
    again = gateway.slash(ALICE, "imagine", prompt="one more")
    await fake_discord.wait_for(lambda: grid_posted(fake_discord, again.token))


async def test_turns_alternate_between_people_and_waiting_shows_the_position(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    bot = bot_of(gateway)
    grid, _ = await imagine(gateway, fake_discord, ALICE, "a quick one --steps 2")
    blocker = gateway.slash(CAROL, "imagine", prompt=f"a long one {SLOW}")
    async with asyncio.timeout(30):
        while not (bot.worker and bot.worker.busy):  # noqa: ASYNC110 -- no Discord call marks the start
            await asyncio.sleep(0.01)

    # 🔄 clicks: their rows are written without the engine, so they line up behind the job
    # it is busy with. One at a time, so each one's place in line is known.
    asked: dict[str, Sent] = {}
    for name, person in [("a1", ALICE), ("a2", ALICE), ("a3", ALICE), ("b1", BOB), ("b2", BOB)]:
        asked[name] = gateway.click(
            person, grid, grid["components"][0]["components"][4]["custom_id"]
        )
        await fake_discord.wait_for(lambda s=asked[name]: queue_notice(fake_discord, s))
    assert grid_posted(fake_discord, blocker.token) is None, "the long job was too short"

    # The running job counts: Alice's first is next (1); Bob's first overtakes her second.
    positions = {
        name: position_in(queue_notice(fake_discord, sent)) for name, sent in asked.items()
    }
    assert positions == {"a1": 1, "a2": 2, "a3": 3, "b1": 2, "b2": 4}

    job_ids = {name: job_of(await grid_of(fake_discord, sent)) for name, sent in asked.items()}
    async with app.database.sessions() as session:
        rows = await session.execute(
            select(Job.public_id, Job.finished_at).where(Job.public_id.in_(job_ids.values()))
        )
        finished = {public_id: at for public_id, at in rows.all()}
    order = sorted(job_ids, key=lambda name: finished[job_ids[name]])
    assert order == ["a1", "b1", "a2", "b2", "a3"]


async def test_a_job_that_starts_at_once_shows_no_queue_position(
    start_bot: StartBot, fake_discord: FakeDiscord
) -> None:
    gateway = await start_bot()
    sent = gateway.slash(ALICE, "imagine", prompt="alone in line")
    await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))
    assert queue_notice(fake_discord, sent) is None


async def private_answer(fake: FakeDiscord, sent: Sent) -> Call:
    """The interaction's one response, when it is a message rather than "thinking…"."""
    calls = await fake.wait_for(lambda: fake.calls_for(sent.token))
    assert [call.json["type"] for call in calls] == [4], "not one immediate answer"
    answer: Call = calls[0]
    return answer


@pytest.mark.parametrize(
    ("prompt", "said"),
    [
        ("An Ogre under a bridge --ar 16:9", "isn't allowed here"),
        ("a bridge --ar 9:1", "1:4 to 4:1"),
        ("a cat --steps 100000", "--steps"),
    ],
)
async def test_a_refused_prompt_is_answered_privately_at_once_and_writes_nothing(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App, prompt: str, said: str
) -> None:
    gateway = await start_bot()
    sent = gateway.slash(ALICE, "imagine", prompt=prompt)

    refused = await private_answer(fake_discord, sent)

    # No public "thinking…" appeared to vanish: the first and only answer is private.
    assert refused.flags & EPHEMERAL
    assert said in refused.json["data"]["content"]
    assert "forbidden fruit" not in refused.json["data"]["content"]
    assert not refused.files
    assert await job_rows(app) == 0


async def test_interrupted_jobs_are_swept_back_into_the_queue_at_start(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    alice = Actor.discord(ALICE.id, ALICE.name)
    queued = await app.service.imagine(alice, "lost --steps 30 --seed 30")
    await abandon(app, queued.job_id)

    gateway = await start_bot()
    worker = bot_of(gateway).worker
    assert worker is not None
    async with asyncio.timeout(60):
        assert await app.watch.finished(queued.job_id) == JobStatus.DONE
    assert worker.finished_jobs == 1, "the recovered job did not run on the bot's worker"
    assert (await app.service.show(queued.job_id)).seeds == [30, 31, 32, 33]
