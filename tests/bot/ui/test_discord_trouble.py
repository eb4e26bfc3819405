"""When Discord misbehaves: rate limits, server errors, deleted messages and channels.

discord.py retries 429s and 5xx answers itself (the fake answers at aiohttp's boundary, so its
real retry code runs); what it cannot retry, pickloop works around or logs, and the job and
its images stay safe for /show.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.core.app import App
from storage.models import EventKind, Job
from tests.bot.ui.conftest import StartBot
from tests.bot.ui.harness import CHANNEL_ID, Call, FakeDiscord, Person
from tests.bot.ui.test_imagine import grid_posted
from tests.bot.ui.test_reactions import settled, upscaled

ALICE = Person(400_000_000_000_000_001, "alice")


def picture_edit(method: str, path: str) -> bool:
    return method == "PATCH" and path.endswith("/messages/@original")


def channel_posts(fake: FakeDiscord) -> list[Call]:
    return [
        call
        for call in fake.calls
        if call.method == "POST" and call.path == f"/channels/{CHANNEL_ID}/messages"
    ]


async def recorded_message(app: App, job_id: str) -> tuple[int | None, int | None]:
    """Where the job's picture was posted, as kept with the job (written just after posting)."""
    async with asyncio.timeout(30):
        while True:
            async with app.database.sessions() as session:
                query = select(Job.discord_channel_id, Job.discord_message_id)
                row = (await session.execute(query.where(Job.public_id == job_id))).one()
            if row[1] is not None:
                return row[0], row[1]
            await asyncio.sleep(0.02)


def job_of(call: Call) -> str:
    return call.custom_ids[0].split(":")[2]


@pytest.mark.parametrize("status", [429, 502])
async def test_a_rate_limit_or_server_error_is_retried_and_the_grid_arrives(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App, status: int
) -> None:
    gateway = await start_bot()
    fake_discord.fail(status, picture_edit)
    sent = gateway.slash(ALICE, "imagine", prompt="a red circle --steps 2")

    grid = await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))

    calls = fake_discord.calls_for(sent.token)
    refused = next(index for index, call in enumerate(calls) if call.status == status)
    again = calls[refused + 1]  # discord.py's retry: the same request, now answered
    assert (again.method, again.path, again.json, again.status) == (
        calls[refused].method,
        calls[refused].path,
        calls[refused].json,
        200,
    )
    # Where the grid lives is kept with the job.
    message = fake_discord.originals[sent.token]
    assert await recorded_message(app, job_of(grid)) == (CHANNEL_ID, int(message["id"]))


async def test_a_deleted_message_gets_its_picture_posted_anew(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    sent = gateway.slash(ALICE, "imagine", prompt="a green triangle --steps 2")
    await fake_discord.wait_for(lambda: sent.token in fake_discord.originals)
    fake_discord.delete_original(sent.token)

    posts = await fake_discord.wait_for(lambda: channel_posts(fake_discord))

    assert len(posts[0].files) == 1 and len(posts[0].custom_ids) == 9
    assert await recorded_message(app, job_of(posts[0])) == (
        CHANNEL_ID,
        int(posts[0].answer["id"]),
    )


async def test_with_the_channel_gone_too_the_job_is_kept_for_show(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    sent = gateway.slash(ALICE, "imagine", prompt="a lost square --steps 2")
    await fake_discord.wait_for(lambda: sent.token in fake_discord.originals)
    fake_discord.delete_original(sent.token)
    fake_discord.deleted_channels.add(CHANNEL_ID)

    refused = await fake_discord.wait_for(
        lambda: [call for call in channel_posts(fake_discord) if call.status == 404]
    )
    job_id = job_of(refused[0])
    assert (await app.service.show(job_id)).status == "done"

    # Somewhere else, later, /show brings it back with its buttons.
    fake_discord.deleted_channels.clear()
    again = gateway.slash(ALICE, "show", job_id=job_id)
    shown = await fake_discord.wait_for(lambda: grid_posted(fake_discord, again.token))
    assert job_of(shown) == job_id and len(shown.files) == 1


async def test_a_server_error_while_reading_a_reacted_message_is_retried(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    message, image_id = await upscaled(gateway, fake_discord, app)
    fake_discord.fail(500, lambda method, path: method == "GET" and path.startswith("/channels/"))

    gateway.react(ALICE, message, "❤️")

    await settled(app, {(EventKind.FAVORITE, image_id)})
    where = f"/channels/{message['channel_id']}/messages/{message['id']}"
    reads = [call.status for call in fake_discord.calls if call.path == where]
    assert reads == [500, 200]
