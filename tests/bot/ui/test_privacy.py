from __future__ import annotations

import io
import json
import zipfile

from bot.core.actor import Actor
from bot.core.app import App
from bot.core.people.privacy import DATA_FILE
from bot.ui.privacy import NOTICE
from tests.bot.ui.conftest import StartBot
from tests.bot.ui.harness import EPHEMERAL, Call, FakeDiscord, Gateway, Person, Sent
from tests.bot.ui.test_imagine import grid_posted, last_edit

ALICE = Person(400_000_000_000_000_011, "alice")
BOB = Person(400_000_000_000_000_012, "bob")


def notices(fake: FakeDiscord, token: str) -> list[Call]:
    return [
        call
        for call in fake.calls_for(token)
        if call.method == "POST" and call.json and call.json.get("content") == NOTICE
    ]


async def imagine(gateway: Gateway, fake: FakeDiscord, person: Person) -> Sent:
    sent = gateway.slash(person, "imagine", prompt="a red circle --seed 5")
    await fake.wait_for(lambda: grid_posted(fake, sent.token))
    return sent


async def answer_of(fake: FakeDiscord, sent: Sent, *, with_files: bool = False) -> Call:
    """The deferred ephemeral message, edited into the command's answer."""

    def answered() -> Call | None:
        edit = last_edit(fake, sent.token)
        return edit if edit is not None and (edit.files or not with_files) else None

    edit = await fake.wait_for(answered)
    assert fake.calls_for(sent.token)[0].json == {"type": 5, "data": {"flags": EPHEMERAL}}
    return edit


async def test_the_first_use_brings_a_private_notice_once(
    start_bot: StartBot, fake_discord: FakeDiscord
) -> None:
    gateway = await start_bot()
    first = await imagine(gateway, fake_discord, ALICE)
    [notice] = await fake_discord.wait_for(lambda: notices(fake_discord, first.token))
    second = await imagine(gateway, fake_discord, ALICE)

    assert notice.flags & EPHEMERAL
    assert "/privacy" in notice.json["content"]
    # After the picture: the notice must not take the place of the public "thinking…" message.
    calls = fake_discord.calls_for(first.token)
    assert calls.index(notice) > calls.index(last_edit(fake_discord, first.token))
    assert not notices(fake_discord, second.token)


async def test_download_is_a_private_zip_of_the_persons_data(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    await imagine(gateway, fake_discord, ALICE)

    full = await answer_of(
        fake_discord, gateway.slash(ALICE, "privacy", "download"), with_files=True
    )
    [upload] = full.files
    with zipfile.ZipFile(io.BytesIO(upload.data)) as archive:
        record = json.loads(archive.read(DATA_FILE))
        assert sum(name.startswith("images/") for name in archive.namelist()) == 4
    assert record["person"]["discord_id"] == str(ALICE.id)
    assert [job["prompt"] for job in record["jobs"]] == ["a red circle"]

    gateway.upload_limit = len(upload.data) // 2
    small = await answer_of(
        fake_discord, gateway.slash(ALICE, "privacy", "download"), with_files=True
    )
    with zipfile.ZipFile(io.BytesIO(small.files[0].data)) as archive:
        assert archive.namelist() == [DATA_FILE]
    assert "pickloop-data.json` alone" in small.json["content"]


async def test_delete_asks_first_and_only_the_person_can_confirm_even_after_a_restart(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    await imagine(gateway, fake_discord, ALICE)
    alice = Actor.discord(ALICE.id, ALICE.name)

    asked = gateway.slash(ALICE, "privacy", "delete")
    confirmation = await answer_of(fake_discord, asked)
    button = f"pl:privacy-delete:{ALICE.id}"
    assert confirmation.custom_ids == [button]
    message = fake_discord.originals[asked.token]

    stranger = gateway.click(BOB, message, button)
    refusal = await fake_discord.wait_for(lambda: fake_discord.calls_for(stranger.token))
    assert refusal[0].json["type"] == 4 and refusal[0].flags & EPHEMERAL
    assert (await app.privacy.summary(alice)).jobs == 1

    # Confirmed after a restart: the button carries all it needs.
    restarted = await start_bot()
    confirm = restarted.click(ALICE, message, button)
    done = await fake_discord.wait_for(lambda: last_edit(fake_discord, confirm.token))

    assert fake_discord.calls_for(confirm.token)[0].json == {"type": 6}
    assert done.json["content"].startswith("Deleted: 1 jobs, 4 images")
    assert not done.custom_ids
    assert (await app.privacy.summary(alice)).jobs == 0
