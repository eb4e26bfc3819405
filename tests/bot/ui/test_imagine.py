from __future__ import annotations

import io

import PIL.Image

from tests.bot.ui.conftest import StartBot
from tests.bot.ui.harness import Call, FakeDiscord, Person

ALICE = Person(400_000_000_000_000_001, "alice")


def last_edit(fake: FakeDiscord, token: str) -> Call | None:
    edits = [
        call
        for call in fake.calls_for(token)
        if call.method == "PATCH"
        and call.path.endswith("/messages/@original")
        and call.status == 200  # what Discord accepted
    ]
    return edits[-1] if edits else None


def grid_posted(fake: FakeDiscord, token: str) -> Call | None:
    edit = last_edit(fake, token)
    return edit if edit is not None and edit.files else None


async def test_imagine_defers_first_then_shows_the_grid_with_nine_buttons(
    start_bot: StartBot, fake_discord: FakeDiscord
) -> None:
    gateway = await start_bot()
    sent = gateway.slash(ALICE, "imagine", prompt="a red circle --seed 7")

    edit = await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))

    first = fake_discord.calls_for(sent.token)[0]
    assert first.method == "POST"
    assert first.path == f"/interactions/{sent.id}/{sent.token}/callback"
    assert first.json == {"type": 5}  # "pickloop is thinking…", public
    assert len(edit.files) == 1
    with PIL.Image.open(io.BytesIO(edit.files[0].data)) as grid:
        assert grid.format == "WEBP"  # a preview: light, and quick to reach people
    job_id = edit.custom_ids[0].split(":")[2]
    assert edit.custom_ids == [
        f"pl:u:{job_id}:1",
        f"pl:u:{job_id}:2",
        f"pl:u:{job_id}:3",
        f"pl:u:{job_id}:4",
        f"pl:r:{job_id}",
        f"pl:v:{job_id}:1",
        f"pl:v:{job_id}:2",
        f"pl:v:{job_id}:3",
        f"pl:v:{job_id}:4",
    ]
    assert [len(row["components"]) for row in edit.json["components"]] == [5, 4]
    assert "a red circle" in edit.json["content"]
    assert f"<@{ALICE.id}>" in edit.json["content"]


async def test_a_grid_over_a_small_upload_limit_goes_lighter(
    start_bot: StartBot, fake_discord: FakeDiscord
) -> None:
    gateway = await start_bot()
    sent = gateway.slash(ALICE, "imagine", prompt="a red circle --seed 7")
    usual = (await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))).files[0]

    gateway.upload_limit = len(usual.data) - 1
    again = gateway.slash(ALICE, "imagine", prompt="a red circle --seed 7")
    edit = await fake_discord.wait_for(lambda: grid_posted(fake_discord, again.token))

    [picture] = edit.files
    assert picture.filename.endswith(".webp")
    assert len(picture.data) <= gateway.upload_limit
    with PIL.Image.open(io.BytesIO(picture.data)) as grid:
        assert grid.format == "WEBP"
