from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import PIL.Image

from bot.core.actor import Actor
from bot.core.app import App
from tests.bot.ui.conftest import StartBot, abandon
from tests.bot.ui.harness import EPHEMERAL, Call, FakeDiscord, Gateway, Person, Sent
from tests.bot.ui.test_imagine import grid_posted, last_edit
from tests.engine.support import pixel_distance

ALICE = Person(400_000_000_000_000_001, "alice")
BOB = Person(400_000_000_000_000_002, "bob")


async def imagine(gateway: Gateway, fake: FakeDiscord, prompt: str) -> tuple[dict[str, Any], str]:
    """A finished grid as Discord holds it (the message a click comes from), and its job id."""
    sent = gateway.slash(ALICE, "imagine", prompt=prompt)
    edit = await fake.wait_for(lambda: grid_posted(fake, sent.token))
    return fake.originals[sent.token], edit.custom_ids[0].split(":")[2]


async def result_of(fake: FakeDiscord, sent: Sent) -> Call:
    """What the clicker sees in the end: the deferred message edited into a picture or a reason."""

    def settled() -> Call | None:
        edit = last_edit(fake, sent.token)
        return (
            edit if edit is not None and (edit.files or "failed" in edit.json["content"]) else None
        )

    return await fake.wait_for(settled)


def job_of(call: Call) -> str:
    return call.custom_ids[0].split(":")[2]


async def test_u2_posts_the_upscaled_second_image(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    grid, job_id = await imagine(gateway, fake_discord, "a red circle --seed 1")

    click = gateway.click(BOB, grid, f"pl:u:{job_id}:2")
    shown = await result_of(fake_discord, click)

    assert fake_discord.calls_for(click.token)[0].json == {"type": 5}
    assert len(shown.files) == 1
    source = (await app.service.show(job_id)).images[1]
    with PIL.Image.open(io.BytesIO(shown.files[0].data)) as upscaled:
        assert upscaled.size == (source.width * 2, source.height * 2)
    upscale = await app.service.show(job_of(shown))
    assert upscale.kind == "upscale"
    assert upscale.parent_image_id == source.id
    assert upscale.owner == "bob"  # the clicker's job, as on Midjourney
    assert shown.custom_ids[:7] == [
        f"pl:v:{upscale.job_id}:1",
        f"pl:vs:{upscale.job_id}:1",
        f"pl:vr:{upscale.job_id}",
        f"pl:u:{upscale.job_id}:1",
        f"pl:uc:{upscale.job_id}:1",
        f"pl:f:{upscale.job_id}",
        f"pl:d:{upscale.job_id}",
    ]


async def test_the_buttons_under_an_upscale(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    grid, job_id = await imagine(gateway, fake_discord, "a red circle --seed 2")
    click = gateway.click(BOB, grid, f"pl:u:{job_id}:4")
    upscale = job_of(await result_of(fake_discord, click))
    message = fake_discord.originals[click.token]

    bigger = await result_of(fake_discord, gateway.click(ALICE, message, f"pl:u:{upscale}:1"))
    creative = await result_of(fake_discord, gateway.click(ALICE, message, f"pl:uc:{upscale}:1"))
    strong = await result_of(fake_discord, gateway.click(ALICE, message, f"pl:vs:{upscale}:1"))
    favourite = gateway.click(ALICE, message, f"pl:f:{upscale}")
    thanks = await fake_discord.wait_for(
        lambda: next(
            (
                c
                for c in fake_discord.calls_for(favourite.token)
                if c.path.endswith(favourite.token)
            ),
            None,
        )
    )

    source = (await app.service.show(upscale)).images[0]
    with (
        PIL.Image.open(io.BytesIO(bigger.files[0].data)) as image,
        PIL.Image.open(io.BytesIO(creative.files[0].data)) as redrawn,
    ):
        assert image.size == redrawn.size == (source.width * 2, source.height * 2)
        # Upscale (Subtle) only enlarges; Upscale (Creative) redraws the enlargement's detail.
        assert pixel_distance(image.convert("RGB"), redrawn.convert("RGB")) > 5
    assert (await app.service.show(job_of(creative))).parameters.creative is True
    assert (await app.service.show(job_of(bigger))).parameters.creative is None
    varied = await app.service.show(job_of(strong))
    assert (varied.kind, varied.parameters.variation, len(varied.images)) == (
        "variation",
        "strong",
        4,
    )
    assert fake_discord.calls_for(favourite.token)[0].json == {"type": 5, "data": {"flags": 64}}
    assert "❤️" in thanks.json["content"]


async def test_a_click_on_a_grid_from_before_a_restart_still_works(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    before = await start_bot()
    grid, job_id = await imagine(before, fake_discord, "a blue square")
    await before.client.close()

    after = await start_bot()  # a new process: nothing in memory but the database
    click = after.click(BOB, grid, f"pl:u:{job_id}:3")
    shown = await result_of(fake_discord, click)

    assert len(shown.files) == 1
    assert (await app.service.show(job_of(shown))).parent_job_id == job_id


async def test_v1_and_reroll_make_new_grids(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    grid, job_id = await imagine(gateway, fake_discord, "a green triangle")

    vary = await result_of(fake_discord, gateway.click(BOB, grid, f"pl:v:{job_id}:1"))
    reroll = await result_of(fake_discord, gateway.click(BOB, grid, f"pl:r:{job_id}"))

    for shown, kind in ((vary, "variation"), (reroll, "reroll")):
        assert len(shown.files) == 1
        assert len(shown.custom_ids) == 9
        made = await app.service.show(job_of(shown))
        assert (made.kind, made.parent_job_id, len(made.images)) == (kind, job_id, 4)
    variation = await app.service.show(job_of(vary))
    assert variation.parameters.variation == "subtle"


async def test_a_click_on_an_unknown_job_gets_an_ephemeral_reason(
    start_bot: StartBot, fake_discord: FakeDiscord
) -> None:
    gateway = await start_bot()
    grid, job_id = await imagine(gateway, fake_discord, "a circle")
    # A grid whose job the database no longer has (deleted since it was posted).
    orphan = json.loads(json.dumps(grid).replace(job_id, "nosuchjob0"))

    click = gateway.click(BOB, orphan, "pl:u:nosuchjob0:1")
    reason = await fake_discord.wait_for(
        lambda: next(
            (c for c in fake_discord.calls_for(click.token) if c.path.endswith(click.token)),
            None,
        )
    )

    assert reason.flags & EPHEMERAL
    assert "nosuchjob0" in reason.json["content"]
    assert not reason.files


async def test_a_failing_job_tells_the_person_and_the_bot_keeps_serving(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    grid, job_id = await imagine(gateway, fake_discord, "a circle --seed 3")
    # The picture to upscale is gone from disk: the job cannot be done.
    Path((await app.service.show(job_id)).images[0].path).unlink()

    failed = await result_of(fake_discord, gateway.click(BOB, grid, f"pl:u:{job_id}:1"))

    assert "failed" in failed.json["content"]
    assert not failed.files and not failed.custom_ids
    _, next_job = await imagine(gateway, fake_discord, "a square")
    assert (await app.service.show(next_job)).status == "done"


async def test_a_job_a_crashed_process_left_is_finished_at_start_and_can_be_shown(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    queued = await app.service.imagine(Actor.discord(ALICE.id, ALICE.name), "a lost job")
    await abandon(app, queued.job_id)

    gateway = await start_bot()
    async with asyncio.timeout(60):
        # Nothing in Discord to watch: the process finishes it on its own, then /show finds it.
        while (await app.service.show(queued.job_id)).status != "done":  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    sent = gateway.slash(ALICE, "show", job_id=queued.job_id)
    shown = await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))

    assert len(shown.files) == 1
    assert len(shown.custom_ids) == 9


async def test_an_upscale_is_png_unless_too_big_then_jpeg(
    start_bot: StartBot, fake_discord: FakeDiscord
) -> None:
    gateway = await start_bot()
    grid, job_id = await imagine(gateway, fake_discord, "a red circle --seed 5")
    [png] = (await result_of(fake_discord, gateway.click(BOB, grid, f"pl:u:{job_id}:1"))).files
    assert png.filename.endswith(".png")

    gateway.upload_limit = len(png.data) - 1
    [jpeg] = (await result_of(fake_discord, gateway.click(BOB, grid, f"pl:u:{job_id}:1"))).files

    assert jpeg.filename.endswith(".jpg") and len(jpeg.data) <= gateway.upload_limit
    with PIL.Image.open(io.BytesIO(jpeg.data)) as picture:
        assert picture.format == "JPEG"
