"""/imagine with an attached picture and /blend, through discord.py's real dispatch: the bot
fetches the attachment from Discord's CDN (never a URL from the prompt), starts the grid from
it, and refuses what it cannot take before anything is queued."""

from __future__ import annotations

import io

import PIL.Image

from bot.core.app import App
from tests.bot.ui.conftest import StartBot
from tests.bot.ui.harness import CDN, EPHEMERAL, Call, FakeDiscord
from tests.bot.ui.test_buttons import ALICE
from tests.bot.ui.test_imagine import grid_posted


def picture(colour: str, size: tuple[int, int] = (60, 40)) -> bytes:
    buffer = io.BytesIO()
    PIL.Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def fetched(fake: FakeDiscord) -> list[str]:
    return [call.path for call in fake.calls if call.path.startswith(CDN)]


async def private_answer(fake: FakeDiscord, token: str) -> Call:
    """The refusal only the person sees: at once, or as a followup once "thinking…" is gone."""

    def found() -> Call | None:
        for call in fake.calls_for(token):
            body = call.json if isinstance(call.json, dict) else {}
            data = body.get("data", body)
            if call.method == "POST" and data.get("flags", 0) & EPHEMERAL and data.get("content"):
                return call
        return None

    answer: Call = await fake.wait_for(found)
    return answer


def content_of(call: Call) -> str:
    body = call.json if isinstance(call.json, dict) else {}
    return str(body.get("data", body)["content"])


async def test_an_attached_picture_starts_the_grid_and_gives_it_its_shape(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    attached = fake_discord.attach("sunset.png", picture("orange"))

    sent = gateway.slash(ALICE, "imagine", prompt="a sunset --iw 2", image=attached)
    edit = await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))

    job = await app.service.show(edit.custom_ids[0].split(":")[2])
    assert job.status == "done" and job.parameters.images == 1
    assert job.parameters.image_weight == 2.0
    assert job.parameters.width > job.parameters.height  # 3:2, as the picture
    assert fetched(fake_discord) == [attached.url]
    assert "**a sunset** — from an image <@" in edit.json["content"]


async def test_blend_mixes_two_to_five_pictures_without_a_prompt(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    first = fake_discord.attach("a.png", picture("red"))
    second = fake_discord.attach("b.jpg", picture("blue"), content_type="image/jpeg")
    third = fake_discord.attach("c.png", picture("green"))

    sent = gateway.slash(ALICE, "blend", image1=first, image2=second, image3=third)
    edit = await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))

    job = await app.service.show(edit.custom_ids[0].split(":")[2])
    assert job.status == "done" and job.prompt == "" and job.parameters.images == 3
    assert sorted(fetched(fake_discord)) == sorted([first.url, second.url, third.url])
    assert edit.json["content"].startswith("**(no prompt)** — Blend <@")


async def test_a_picture_too_heavy_is_refused_before_it_is_fetched(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    heavy = fake_discord.attach("poster.png", bytes(app.settings.max_upload_bytes + 1))

    sent = gateway.slash(ALICE, "imagine", prompt="a poster", image=heavy)
    refusal = await private_answer(fake_discord, sent.token)

    assert "poster.png weighs" in content_of(refusal)
    assert fetched(fake_discord) == [] and await app.service.list_jobs(None) == []


async def test_a_file_that_is_not_a_picture_is_refused(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    notes = fake_discord.attach("notes.txt", b"hello", content_type="text/plain")
    # Named and typed as a picture, but not one: found out once its bytes are read.
    disguised = fake_discord.attach("cat.png", b"<html>not a cat</html>")

    said = gateway.slash(ALICE, "blend", image1=notes, image2=disguised)
    refusal = await private_answer(fake_discord, said.token)
    assert "notes.txt is not a picture (text/plain)" in content_of(refusal)

    other = fake_discord.attach("dog.png", picture("brown"))
    found = gateway.slash(ALICE, "blend", image1=other, image2=disguised)
    refusal = await private_answer(fake_discord, found.token)
    assert "cat.png is not a picture pickloop can read" in content_of(refusal)
    assert await app.service.list_jobs(None) == []


async def test_image_weight_without_a_picture_is_refused_at_once(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()

    sent = gateway.slash(ALICE, "imagine", prompt="a sunset --iw 2")
    refusal = await private_answer(fake_discord, sent.token)

    assert "attach an image" in content_of(refusal)
    assert await app.service.list_jobs(None) == []
