"""Reactions on pickloop's images, delivered as raw gateway events."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from bot.core.app import App
from storage.models import Event, EventKind, Image, Job
from tests.bot.ui.conftest import StartBot
from tests.bot.ui.harness import DM_CHANNEL_OFFSET, Call, FakeDiscord, Gateway
from tests.bot.ui.test_buttons import ALICE, BOB, imagine, result_of


async def reactions_recorded(app: App) -> set[tuple[EventKind, str]]:
    async with app.database.sessions() as session:
        rows = await session.execute(
            select(Event.kind, Image.public_id)
            .join(Image, Event.image_id == Image.id)
            .where(
                Event.kind.in_(
                    [EventKind.FAVORITE, EventKind.LIKE, EventKind.DISLIKE, EventKind.DELETE]
                )
            )
            .order_by(Event.id)
        )
        return {(kind, image) for kind, image in rows.all()}


async def upscaled(gateway: Gateway, fake: FakeDiscord, app: App) -> tuple[dict[str, Any], str]:
    """Bob's U2 of Alice's grid: the message Discord holds, and the id of its one image."""
    grid, job_id = await imagine(gateway, fake, "a red circle --seed 9")
    click = gateway.click(BOB, grid, f"pl:u:{job_id}:2")
    shown = await result_of(fake, click)
    upscale_job = shown.custom_ids[0].split(":")[2]
    return fake.originals[click.token], (await app.service.show(upscale_job)).images[0].id


async def test_reactions_on_an_upscale_are_recorded_and_the_owner_can_delete_it(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    message, image_id = await upscaled(gateway, fake_discord, app)

    gateway.react(ALICE, message, "❤️")
    gateway.react(ALICE, message, "👎")
    gateway.react(ALICE, message, "🎉")  # not a rating: ignored
    gateway.react(ALICE, message, "❌")  # not hers to delete: refused, the message stays
    await fake_discord.wait_for(lambda: len(fetches(fake_discord)) == 3)
    await settled(app, {(EventKind.FAVORITE, image_id), (EventKind.DISLIKE, image_id)})
    assert not deletions(fake_discord, message)

    gateway.react(BOB, message, "❌")  # the upscale is his
    await fake_discord.wait_for(lambda: deletions(fake_discord, message))
    await settled(
        app,
        {
            (EventKind.FAVORITE, image_id),
            (EventKind.DISLIKE, image_id),
            (EventKind.DELETE, image_id),
        },
    )
    assert len(deletions(fake_discord, message)) == 1


async def test_a_reaction_on_a_grid_is_kept_for_the_whole_grid(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    grid, job_id = await imagine(gateway, fake_discord, "a square")

    gateway.react(BOB, grid, "👍")
    gateway.react(BOB, grid, "❌")  # not his grid: refused, the message stays

    async def grid_reactions() -> list[tuple[EventKind, str, int | None]]:
        async with app.database.sessions() as session:
            rows = await session.execute(
                select(Event.kind, Job.public_id, Event.image_id)
                .join(Job, Event.job_id == Job.id)
                .order_by(Event.id)
            )
            return [(kind, job, image) for kind, job, image in rows.all()]

    async with asyncio.timeout(30):
        while not await grid_reactions():  # noqa: ASYNC110 -- rows, no event
            await asyncio.sleep(0.02)
    await fake_discord.wait_for(lambda: len(fetches(fake_discord)) == 2)
    await asyncio.sleep(0.2)
    assert await grid_reactions() == [(EventKind.LIKE, job_id, None)]
    assert not deletions(fake_discord, grid)


async def settled(app: App, expected: set[tuple[EventKind, str]]) -> None:
    """Wait until the recorded reactions are ``expected`` (they are written in the background)."""
    async with asyncio.timeout(30):
        while await reactions_recorded(app) != expected:  # noqa: ASYNC110 -- rows, no event
            await asyncio.sleep(0.02)


def deletions(fake: FakeDiscord, message: dict[str, Any]) -> list[Call]:
    where = f"/channels/{message['channel_id']}/messages/{message['id']}"
    return [call for call in fake.calls if call.method == "DELETE" and call.path == where]


def fetches(fake: FakeDiscord) -> list[Call]:
    return [call for call in fake.calls if call.method == "GET" and "/channels/" in call.path]


async def test_an_envelope_sends_the_picture_and_its_recipe_to_the_reactors_dms(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    grid, job_id = await imagine(gateway, fake_discord, "a square --seed 40 --chaos 30 --tile")

    gateway.react(BOB, grid, "✉️")
    dm = DM_CHANNEL_OFFSET + BOB.id % 10**12
    sent = await fake_discord.wait_for(
        lambda: next((c for c in fake_discord.calls if c.path == f"/channels/{dm}/messages"), None)
    )

    opened = [c for c in fake_discord.calls if c.path == "/users/@me/channels"]
    assert [c.json for c in opened] == [{"recipient_id": BOB.id}]
    assert len(sent.files) == 1
    assert "seeds 40, 41, 42, 43" in sent.json["content"]
    assert "--chaos 30 --tile" in sent.json["content"]
    assert job_id in sent.json["content"]
    assert await reactions_recorded(app) == set()
