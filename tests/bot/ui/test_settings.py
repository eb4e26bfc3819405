"""/settings and /info in Discord: private answers, defaults a plain /imagine then uses."""

from __future__ import annotations

from bot.core.app import App
from tests.bot.ui.conftest import StartBot
from tests.bot.ui.harness import EPHEMERAL, Call, FakeDiscord, Person, Sent
from tests.bot.ui.test_imagine import grid_posted, last_edit

ALICE = Person(400_000_000_000_000_001, "alice")
BOB = Person(400_000_000_000_000_002, "bob")


async def private_answer(fake: FakeDiscord, sent: Sent) -> str:
    """The text of a command's answer, after checking that only the asker could see it."""
    answer: Call = await fake.wait_for(lambda: last_edit(fake, sent.token))
    acknowledged = fake.calls_for(sent.token)[0]
    assert acknowledged.json == {"type": 5, "data": {"flags": EPHEMERAL}}
    return str(answer.json["content"])


async def test_defaults_shape_a_plain_imagine(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()

    saved = await private_answer(
        fake_discord, gateway.slash(ALICE, "settings", aspect="16:9", steps=5, negative="fog")
    )
    assert "Saved" in saved and "16:9" in saved and "**5**" in saved

    sent = gateway.slash(ALICE, "imagine", prompt="a harbour")
    shown = await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))
    job = await app.service.show(shown.custom_ids[0].split(":")[2])
    assert job.parameters.aspect == "16:9"
    assert job.parameters.width > job.parameters.height
    assert job.parameters.steps == 5
    assert job.negative_prompt == "fog"

    # Without options: what is in force, hers and the server's.
    current = await private_answer(fake_discord, gateway.slash(ALICE, "settings"))
    assert "16:9" in current and "**fog**" in current and "public" in current
    others = await private_answer(fake_discord, gateway.slash(BOB, "settings"))
    assert "server default" in others and "16:9" not in others


async def test_a_bad_value_is_refused_and_changes_nothing(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    await private_answer(fake_discord, gateway.slash(ALICE, "settings", steps=4))

    refused = await private_answer(
        fake_discord,
        gateway.slash(ALICE, "settings", aspect="16x9", steps=9, private=True),
    )

    assert "W:H" in refused and "Nothing was changed" in refused
    current = await private_answer(fake_discord, gateway.slash(ALICE, "settings"))
    assert "**4**" in current and "public" in current
    # Still public: the refused private:True did not take either.
    sent = gateway.slash(ALICE, "imagine", prompt="a harbour")
    await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))
    assert fake_discord.calls_for(sent.token)[0].json == {"type": 5}


async def test_private_replies_make_imagine_and_clicks_private_even_after_a_restart(
    start_bot: StartBot, fake_discord: FakeDiscord
) -> None:
    gateway = await start_bot()
    await private_answer(fake_discord, gateway.slash(ALICE, "settings", private=True))

    sent = gateway.slash(ALICE, "imagine", prompt="a secret garden --steps 2")
    await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))
    assert fake_discord.calls_for(sent.token)[0].json == {"type": 5, "data": {"flags": EPHEMERAL}}
    grid = fake_discord.originals[sent.token]
    job_id = grid["components"][0]["components"][0]["custom_id"].split(":")[2]

    # A new process knows her choice from the database.
    await gateway.client.close()
    restarted = await start_bot()
    click = restarted.click(ALICE, grid, f"pl:u:{job_id}:1")
    await fake_discord.wait_for(lambda: grid_posted(fake_discord, click.token))
    assert fake_discord.calls_for(click.token)[0].json == {"type": 5, "data": {"flags": EPHEMERAL}}
    # Others' answers stay public.
    other = restarted.slash(BOB, "imagine", prompt="a public garden --steps 2")
    await fake_discord.wait_for(lambda: grid_posted(fake_discord, other.token))
    assert fake_discord.calls_for(other.token)[0].json == {"type": 5}

    await private_answer(fake_discord, restarted.slash(ALICE, "settings", private=False))
    again = restarted.slash(ALICE, "imagine", prompt="in the open --steps 2")
    await fake_discord.wait_for(lambda: grid_posted(fake_discord, again.token))
    assert fake_discord.calls_for(again.token)[0].json == {"type": 5}


async def test_info_shows_the_queue_and_the_counts(
    start_bot: StartBot, fake_discord: FakeDiscord
) -> None:
    gateway = await start_bot()
    empty = await private_answer(fake_discord, gateway.slash(BOB, "info"))
    assert "Nothing queued or running" in empty and "jobs: 0" in empty

    sent = gateway.slash(ALICE, "imagine", prompt="a lighthouse --steps 2")
    shown = await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))
    job_id = shown.custom_ids[0].split(":")[2]
    click = gateway.click(BOB, fake_discord.originals[sent.token], f"pl:u:{job_id}:3")
    await fake_discord.wait_for(lambda: grid_posted(fake_discord, click.token))

    alice = await private_answer(fake_discord, gateway.slash(ALICE, "info"))
    bob = await private_answer(fake_discord, gateway.slash(BOB, "info"))

    assert "jobs: 1 · images: 4" in alice and "clicks given (upscale, vary, re-roll): 0" in alice
    assert "jobs: 1 · images: 1" in bob and "clicks given (upscale, vary, re-roll): 1" in bob
