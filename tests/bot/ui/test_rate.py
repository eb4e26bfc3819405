"""/rate through Discord: a private message with two pictures side by side and four buttons."""

from __future__ import annotations

import io

import PIL.Image
from sqlalchemy import select
from sqlalchemy.orm import aliased

from bot.core.actor import Actor
from bot.core.app import App
from bot.core.jobs.job_view import JobView
from storage.models import Event, Image
from tests.bot.ui.conftest import StartBot
from tests.bot.ui.harness import EPHEMERAL, Call, FakeDiscord, Person, Sent

ALICE = Person(400_000_000_000_000_001, "alice")
CHOICES = "lrts"


async def finished_grid(app: App, prompt: str) -> JobView:
    queued = await app.service.imagine(Actor.local("carol"), prompt)
    # The bot's process queues jobs for any worker: this test is that worker.
    assert await app.queue.claim(queued.job_id, app.worker_id)
    await app.runner.run(queued.job_id)
    return await app.service.show(queued.job_id)


async def edited(fake: FakeDiscord, sent: Sent, after: int = 0) -> Call:
    """The message's next state once the bot has edited it (past ``after`` earlier edits)."""

    def edits() -> list[Call]:
        return [
            call
            for call in fake.calls_for(sent.token)
            if call.method == "PATCH" and call.path.endswith("/messages/@original")
        ]

    await fake.wait_for(lambda: len(edits()) > after)
    return edits()[after]


def pair_of(call: Call) -> tuple[str, str]:
    _, _, _, left, right = call.custom_ids[0].split(":")
    return left, right


async def recorded(app: App) -> list[tuple[str, str, str, int | None, int | None]]:
    left, right = aliased(Image), aliased(Image)
    query = (
        select(Event.kind, left.public_id, right.public_id, Event.position, Event.other_position)
        .join(left, Event.image_id == left.id)
        .join(right, Event.other_image_id == right.id)
        .order_by(Event.id)
    )
    async with app.database.sessions() as session:
        return [(k.value, a, b, p, q) for k, a, b, p, q in await session.execute(query)]


async def test_rate_with_nothing_made_yet_says_to_imagine_first(
    start_bot: StartBot, fake_discord: FakeDiscord
) -> None:
    gateway = await start_bot()

    sent = gateway.slash(ALICE, "rate")
    answer = await edited(fake_discord, sent)

    assert fake_discord.calls_for(sent.token)[0].json == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert "/imagine" in answer.json["content"]
    assert answer.custom_ids == []
    assert answer.files == []


async def test_rating_a_grid_pair_by_pair_until_none_is_left(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    grid = await finished_grid(app, "a red circle --seed 1")
    positions = {image.id: image.position for image in grid.images}
    gateway = await start_bot()

    sent = gateway.slash(ALICE, "rate")
    shown = await edited(fake_discord, sent)

    assert fake_discord.calls_for(sent.token)[0].json == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert "a red circle" in shown.json["content"]
    left, right = pair_of(shown)
    assert {left, right} <= set(positions) and left != right
    assert shown.custom_ids == [f"pl:p:{c}:{left}:{right}" for c in CHOICES]
    [picture] = shown.files
    with PIL.Image.open(io.BytesIO(picture.data)) as side_by_side:
        width, height = grid.images[0].width, grid.images[0].height
        assert side_by_side.height == height and side_by_side.width > 2 * width

    click = gateway.click(ALICE, fake_discord.originals[sent.token], f"pl:p:l:{left}:{right}")
    following = await edited(fake_discord, click)

    assert fake_discord.calls_for(click.token)[0].json == {"type": 6}  # updates that message
    assert await recorded(app) == [("rate_left", left, right, positions[left], positions[right])]
    assert len(following.files) == 1
    pairs = {frozenset((left, right)), frozenset(pair_of(following))}
    assert len(pairs) == 2

    # Four pictures make six pairs: five more Skips, and then there are none.
    message = fake_discord.originals[click.token]
    for _ in range(5):
        skip = gateway.click(ALICE, message, message["components"][0]["components"][3]["custom_id"])
        last = await edited(fake_discord, skip)
        message = fake_discord.originals[skip.token]
        if last.custom_ids:
            pairs.add(frozenset(pair_of(last)))

    assert len(pairs) == 6
    assert last.json["content"] == "You've rated every pair there is for now — thanks!"
    assert last.custom_ids == []
    assert [kind for kind, *_ in await recorded(app)] == ["rate_left"] + ["rate_skip"] * 5


async def test_a_click_on_a_pair_from_before_a_restart_is_recorded(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    await finished_grid(app, "a blue square --seed 3")
    before = await start_bot()
    sent = before.slash(ALICE, "rate")
    left, right = pair_of(await edited(fake_discord, sent))
    await before.client.close()

    after = await start_bot()  # a new process: nothing in memory but the database
    click = after.click(ALICE, fake_discord.originals[sent.token], f"pl:p:r:{left}:{right}")
    following = await edited(fake_discord, click)

    assert [row[:3] for row in await recorded(app)] == [("rate_right", left, right)]
    assert len(following.files) == 1
    assert frozenset(pair_of(following)) != frozenset((left, right))
