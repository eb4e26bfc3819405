"""The tools under an upscale through discord.py's real dispatch: Zoom Out, Custom Zoom (a
modal), Pan, Make Square and Vary (Region) (a select menu, then a modal)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.core.app import App
from storage.models import Event, User
from tests.bot.ui.conftest import StartBot
from tests.bot.ui.harness import EPHEMERAL, FakeDiscord, Gateway, Person
from tests.bot.ui.test_buttons import ALICE, BOB, imagine, job_of, result_of


async def upscaled(gateway: Gateway, fake: FakeDiscord, prompt: str) -> tuple[dict[str, Any], str]:
    """An upscale as Discord holds it (the message its buttons are on), and its job id."""
    grid, job_id = await imagine(gateway, fake, prompt)
    click = gateway.click(BOB, grid, f"pl:u:{job_id}:1")
    upscale = job_of(await result_of(fake, click))
    return fake.originals[click.token], upscale


async def clicks_of(app: App, person: Person) -> list[str]:
    async with app.database.sessions() as session:
        query = (
            select(Event.kind)
            .join(User, User.id == Event.user_id)
            .where(User.discord_id == person.id)
            .order_by(Event.id)
        )
        return [kind.value for kind in (await session.execute(query)).scalars()]


async def test_an_upscale_offers_the_tools_and_zoom_out_makes_a_grid(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    message, upscale = await upscaled(gateway, fake_discord, "a red circle --seed 2")
    on_message = [c["custom_id"] for row in message["components"] for c in row["components"]]

    zoomed = await result_of(fake_discord, gateway.click(ALICE, message, f"pl:e:z2:{upscale}"))

    # Square, so no Make Square.
    assert on_message[-7:] == [
        f"pl:e:z2:{upscale}",
        f"pl:e:z15:{upscale}",
        f"pl:cz:{upscale}",
        f"pl:e:pl:{upscale}",
        f"pl:e:pr:{upscale}",
        f"pl:e:pu:{upscale}",
        f"pl:e:pd:{upscale}",
    ]
    assert f"pl:vr:{upscale}" in on_message
    job = await app.service.show(job_of(zoomed))
    assert (job.kind, job.parameters.edit, job.parameters.zoom, len(job.images)) == (
        "edit",
        "zoom_out",
        2.0,
        4,
    )
    assert job.owner == "alice" and len(zoomed.files) == 1
    assert "Zoom Out 2x" in zoomed.json["content"]
    assert await clicks_of(app, ALICE) == ["zoom_out"]


async def test_a_pan_under_an_upscale_from_before_a_restart_still_works(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    before = await start_bot()
    message, upscale = await upscaled(before, fake_discord, "a blue star --seed 4")
    await before.client.close()

    after = await start_bot()
    panned = await result_of(fake_discord, after.click(ALICE, message, f"pl:e:pl:{upscale}"))

    job = await app.service.show(job_of(panned))
    assert (job.parameters.edit, job.parameters.direction) == ("pan", "left")
    assert job.images[0].width > job.images[0].height


async def test_make_square_shows_under_a_wide_upscale_only(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    message, upscale = await upscaled(gateway, fake_discord, "a red circle --ar 3:2 --seed 3")

    squared = await result_of(fake_discord, gateway.click(ALICE, message, f"pl:e:sq:{upscale}"))

    job = await app.service.show(job_of(squared))
    assert job.parameters.edit == "make_square"
    assert job.images[0].width == job.images[0].height


async def test_custom_zoom_asks_in_a_modal_and_refuses_a_bad_factor(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    message, upscale = await upscaled(gateway, fake_discord, "a green square --seed 5")

    opened = gateway.click(ALICE, message, f"pl:cz:{upscale}")
    modal = await fake_discord.wait_for(lambda: fake_discord.modals.get(opened.token))
    refused = gateway.submit(ALICE, modal, "huge", "")
    said = await fake_discord.wait_for(
        lambda: next(
            (c for c in fake_discord.calls_for(refused.token) if "not 'huge'" in str(c.json)),
            None,
        )
    )
    # A modal closes once sent: the person clicks again for a new one.
    again = gateway.click(ALICE, message, f"pl:cz:{upscale}")
    modal = await fake_discord.wait_for(lambda: fake_discord.modals.get(again.token))
    zoomed = await result_of(fake_discord, gateway.submit(ALICE, modal, "1.5", "a green moon"))

    assert "Zoom out by a number" in str(said.json)
    job = await app.service.show(job_of(zoomed))
    assert (job.parameters.zoom, job.prompt) == (1.5, "a green moon")
    assert await clicks_of(app, ALICE) == ["zoom_out"]


async def test_vary_region_offers_regions_privately_then_a_prompt(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    message, upscale = await upscaled(gateway, fake_discord, "a red star --seed 6")

    asked = gateway.click(ALICE, message, f"pl:vr:{upscale}")

    # The click's token first holds the message clicked on, then the private answer.
    def answered() -> dict[str, Any] | None:
        found = fake_discord.originals[asked.token]
        return found if f"pl:vrs:{upscale}" in str(found["components"]) else None

    menu = await fake_discord.wait_for(answered)
    chose = gateway.select(ALICE, menu, f"pl:vrs:{upscale}", ["left-half", "centre"])
    modal = await fake_discord.wait_for(lambda: fake_discord.modals.get(chose.token))
    varied = await result_of(fake_discord, gateway.submit(ALICE, modal, ""))

    assert menu["flags"] & EPHEMERAL
    job = await app.service.show(job_of(varied))
    assert job.parameters.regions == ("left-half", "centre")
    assert job.prompt == (await app.service.show(upscale)).prompt
    assert await clicks_of(app, ALICE) == ["vary_region"]
